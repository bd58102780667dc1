//! The interface the proxy calls, implemented by every backend.

use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::admission::{Admission, AdmitRequest, Reservation, WindowUsage};
use crate::error::LimitError;
use crate::ledger::Settlement;
use crate::limits::{KeyId, KeyLimits};

/// What became of a settlement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettleOutcome {
    /// Counted and appended to the ledger.
    Settled,
    /// This request id was already settled; nothing changed.
    Duplicate,
    /// The shared store is unreachable; buffered for replay.
    Deferred,
}

/// Per-key rolling-window limits with reservations.
#[async_trait]
pub trait Limiter: Send + Sync {
    /// Checks every window of the key and, if all have room, reserves the request.
    async fn admit(&self, req: AdmitRequest<'_>) -> Result<Admission, LimitError>;

    /// Replaces the reservation with the real usage and appends the ledger record, once per request id.
    async fn settle(
        &self,
        reservation: &Reservation,
        settlement: &Settlement,
        now: SystemTime,
    ) -> Result<SettleOutcome, LimitError>;

    /// Removes the reservation as if the request never happened (the request failed).
    async fn release(&self, reservation: &Reservation, now: SystemTime) -> Result<(), LimitError>;

    /// Every window and metric of the key at `now`, reservations included.
    async fn usage(
        &self,
        key: &KeyId,
        limits: &KeyLimits,
        now: SystemTime,
    ) -> Result<Vec<WindowUsage>, LimitError>;

    /// Whether a request of a key without limits must hold a reservation and be settled here:
    /// true where its settlement is what writes the usage ledger (Redis). A backend that keeps
    /// nothing for such a request says false, and the caller then only reports the request's
    /// admission and end ([`Limiter::untracked_admitted`], [`Limiter::untracked_ended`]),
    /// sparing the reservation and settlement it would build for nothing.
    fn tracks_unlimited(&self) -> bool {
        true
    }

    /// A request of a key without limits was admitted, where [`Limiter::tracks_unlimited`] is
    /// false: counted as an admission would have counted it.
    fn untracked_admitted(&self) {}

    /// That request ended: counted as the settlement (`served`) or the release of its
    /// reservation would have counted it.
    fn untracked_ended(&self, _served: bool) {}
}
