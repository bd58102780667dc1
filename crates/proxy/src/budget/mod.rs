//! The proxy side of per-key limits: admission before the upstream, settlement or release
//! after, and (in `render`) the headers, errors and documents that show limits to callers.

mod render;

pub use render::{
    headers, rejection_error, retry_after_seconds, usage_document, window_label, LIMIT_HEADERS,
};

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use bytespike_config::snapshot::KeyEntry;
use bytespike_limits::{
    Admission, AdmitRequest, KeyId, KeyLimits, LimitError, Limiter, Rejection, Reservation,
    Settlement, Usage as LimitUsage, WindowLimit, WindowUsage,
};
use bytespike_protocol::{ErrorKind, GatewayError, Usage};

/// A key's limits in the limiter's terms.
pub fn key_limits(key: &KeyEntry, cache_read_weight_permille: u32) -> KeyLimits {
    KeyLimits {
        windows: key
            .limits
            .iter()
            .map(|l| WindowLimit {
                window: l.window,
                requests: l.requests,
                tokens: l.tokens,
                input_tokens: l.input_tokens,
                output_tokens: l.output_tokens,
                cost_micros: l.cost_micros,
            })
            .collect(),
        max_concurrent: key.max_concurrent,
        cache_read_weight_permille,
    }
}

/// The limiter's identity of a key: its namespace and name, never its material.
pub fn key_id(key: &KeyEntry) -> KeyId {
    KeyId::new(key.namespace.as_str(), key.name.as_str())
}

/// What admission left for the rest of the request.
pub struct Admitted {
    /// To settle or release when the request ends.
    pub reservation: Reservation,
    /// The key's windows after the reservation, for response headers.
    pub windows: Vec<WindowUsage>,
}

/// Admits a request or explains, in a 429 or 503, why not.
///
/// A key without limits is admitted too (an untracked reservation, no store round trip) where
/// the limiter keeps a usage ledger: its settlement is what puts the request in the ledger,
/// which billing reads for every key. Where it keeps none, the request filter does not call this
/// at all (see `Limiter::tracks_unlimited`).
pub async fn admit(
    limiter: &dyn Limiter,
    key: &KeyEntry,
    limits: &KeyLimits,
    request_id: &str,
    estimated_input_tokens: u64,
) -> Result<Admitted, Refusal> {
    let id = key_id(key);
    let answer = limiter
        .admit(AdmitRequest {
            key: &id,
            limits,
            request_id,
            estimated_input_tokens,
            now: SystemTime::now(),
        })
        .await;
    match answer {
        Ok(Admission::Admitted {
            reservation,
            windows,
        }) => Ok(Admitted {
            reservation,
            windows,
        }),
        Ok(Admission::Rejected(rejection)) => Err(Refusal::Rejected(rejection)),
        Err(LimitError::Unavailable(reason)) => {
            tracing::warn!(%reason, "limits backend unavailable; refusing under the fail-closed policy");
            Err(Refusal::Error(GatewayError::new(
                ErrorKind::Unavailable,
                "rate limits cannot be checked right now; retry shortly",
            )))
        }
        Err(e) => {
            tracing::error!(error = %e, key = %id, "limit admission failed");
            Err(Refusal::Error(GatewayError::new(
                ErrorKind::Internal,
                "rate limits could not be checked for this request",
            )))
        }
    }
}

/// Why a request was not admitted.
pub enum Refusal {
    /// A limit of the key is reached.
    Rejected(Rejection),
    /// The limiter could not decide.
    Error(GatewayError),
}

/// Settles a finished request with its usage, or releases it when it failed; runs off the
/// response path.
pub fn finish(limiter: Arc<dyn Limiter>, reservation: Reservation, outcome: Outcome) {
    PENDING_SETTLEMENTS.fetch_add(1, Ordering::AcqRel);
    let mut work = Box::pin(async move {
        let now = SystemTime::now();
        let result = match &outcome {
            Outcome::Failed => limiter.release(&reservation, now).await.map(|_| ()),
            Outcome::Served(settlement) => limiter
                .settle(&reservation, settlement, now)
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, request_id = %reservation.request_id, "settling usage failed");
        }
        PENDING_SETTLEMENTS.fetch_sub(1, Ordering::AcqRel);
    });
    // Limits kept in process settle without waiting: finishing here spares a task per request.
    // Work that must wait (a Redis write) continues as a task, which polls it again with a
    // real waker.
    let mut cx = Context::from_waker(Waker::noop());
    if work.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(work);
    }
}

/// Settlements and releases started but not finished; a draining process waits for them.
static PENDING_SETTLEMENTS: AtomicUsize = AtomicUsize::new(0);

/// How many settlements are still on their way to the limiter.
pub fn pending_settlements() -> usize {
    PENDING_SETTLEMENTS.load(Ordering::Acquire)
}

/// How a request that held a reservation ended.
pub enum Outcome {
    /// Nothing billable happened: release everything.
    Failed,
    /// The response went out: bill what it used.
    Served(Settlement),
}

/// The settlement of a served request.
#[allow(clippy::too_many_arguments)]
pub fn settlement(
    usage: Usage,
    cost_micros: u64,
    model: &str,
    provider: &str,
    client: &str,
    upstream: &str,
    status: u16,
    started: SystemTime,
) -> Settlement {
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    Settlement {
        usage: LimitUsage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cost_micros,
        },
        model: model.to_string(),
        provider: provider.to_string(),
        client_protocol: client.to_string(),
        upstream_protocol: upstream.to_string(),
        status,
        started_at_ms: ms(started),
        finished_at_ms: ms(SystemTime::now()),
    }
}
