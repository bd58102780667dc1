//! Leased admission: each replica holds, per key, a slice of the key's budget in Redis (a lease,
//! counted in the windows like a reservation) and admits from it without a round trip.

mod table;
mod upkeep;

use std::sync::Arc;

use crate::admission::{Admission, AdmitRequest, Origin};
use crate::limits::{KeyId, KeyLimits};
use crate::memory::WindowSums;
use crate::redis::call::CallError;
use crate::redis::script::{self, KeyNames, LeaseReply};
use crate::redis::{Core, RedisLimiter};
use crate::window::report;

pub(crate) use table::{Ask, Carve, Change, LeaseTable};
use upkeep::Tick;

/// Leaves this replica's unused lease (slots, tokens) out of sums Redis counted it in, as
/// admission reports do.
pub(crate) fn leave_out(sums: &mut WindowSums, (slots, tokens): (u64, u64)) {
    for (used, _) in sums.iter_mut() {
        used[0] = used[0].saturating_sub(slots);
        used[1] = used[1].saturating_sub(tokens);
        used[2] = used[2].saturating_sub(tokens);
    }
}

/// Applies one background change of a lease and records Redis's answer.
async fn apply_change(core: Arc<Core>, c: Change) {
    let names = KeyNames::new(&c.key);
    let mut inv = names.invocation(&core.script, "lease", c.now_ms, "", &core.ledger);
    inv.arg(&c.id)
        .arg(c.delta)
        .arg(c.per_slot)
        .arg(c.back_tokens)
        .arg(1)
        .arg(core.config.lease_ttl.as_millis() as u64)
        .arg(core.config.lease_max_slots)
        .arg(core.config.lease_divisor)
        .arg(core.config.lease_min_slots);
    script::window_args(&mut inv, &names, &c.limits);
    let answer = match core.run("lease", &inv, Some(c.now_ms)).await {
        Ok(reply) => match reply.first() {
            Some(0) => None,
            Some(1) if reply.len() >= 5 => {
                let sums = script::parse_sums(&reply[5..], c.limits.windows.len());
                match (sums, u64::try_from(reply[4])) {
                    (Some(sums), Ok(expires)) => Some((reply[1], expires, sums)),
                    _ => return bad_reply(&core, &c.key, &reply),
                }
            }
            _ => return bad_reply(&core, &c.key, &reply),
        },
        // The lease stays as it is and expires on its own if Redis stays away.
        Err(CallError::Down(_) | CallError::Store(_)) => {
            core.leases.abandon(&c.key);
            return;
        }
    };
    let fresh = core
        .leases
        .answered(&c.key, &c.limits, &c.id, c.per_slot, c.now_ms, answer);
    if fresh {
        spawn_keeper(&core, c.key, c.id);
    }
}

fn bad_reply(core: &Core, key: &KeyId, reply: &[i64]) {
    tracing::error!(?reply, "unexpected lease reply from the limiter script");
    core.leases.abandon(key);
}

/// Keeps lease `id` of `key` alive while used and gives it back when idle, until it is gone.
fn spawn_keeper(core: &Arc<Core>, key: KeyId, id: String) {
    let core = core.clone();
    let period = core.config.lease_ttl / 4;
    core.runtime.clone().spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            match core.leases.tick(&key, &id) {
                Tick::Exit => return,
                Tick::Wait => {}
                Tick::Send(change) => apply_change(core.clone(), change).await,
            }
        }
    });
}

impl RedisLimiter {
    /// Admits from this replica's lease of the key without touching Redis, or says which lease
    /// (if any) the round trip should grow.
    pub(crate) fn carve(
        &self,
        req: &AdmitRequest<'_>,
        limits: &KeyLimits,
        now_ms: u64,
    ) -> Result<Admission, Option<Ask>> {
        let (lease, sums, change) = match self.core.leases.carve(
            req.key,
            limits,
            req.request_id,
            req.estimated_input_tokens,
            now_ms,
        ) {
            Carve::Hit {
                lease,
                sums,
                change,
            } => (lease, sums, change),
            Carve::Miss(ask) => return Err(ask),
        };
        if let Some(change) = change {
            self.core
                .runtime
                .spawn(apply_change(self.core.clone(), change));
        }
        Ok(Admission::Admitted {
            reservation: req.reservation(limits, now_ms, Origin::Shared, Some(lease)),
            windows: report(limits, &sums),
        })
    }

    /// Records what a round trip that asked for a lease did with it (`None`: no answer, or a
    /// rejection).
    pub(crate) fn after_round_trip(
        &self,
        req: &AdmitRequest<'_>,
        limits: &KeyLimits,
        ask: &Ask,
        now_ms: u64,
        answer: Option<(&WindowSums, LeaseReply)>,
    ) {
        // No expiry: the script did not touch the lease (a request id already reserved).
        let Some((sums, [granted, _, _, expires])) = answer.filter(|(_, l)| l[0] < 0 || l[3] > 0)
        else {
            self.core.leases.abandon(req.key);
            return;
        };
        let answer = (granted >= 0).then(|| (granted, expires.max(0) as u64, sums.clone()));
        let fresh = self.core.leases.answered(
            req.key,
            limits,
            &ask.id,
            req.estimated_input_tokens,
            now_ms,
            answer,
        );
        if fresh {
            spawn_keeper(&self.core, req.key.clone(), ask.id.clone());
        }
    }

    /// Gives the unused slots of every lease back to the shared budget (on shutdown; otherwise
    /// they return on their own within the lease ttl).
    pub async fn return_leases(&self) {
        for change in self.core.leases.give_back_all() {
            apply_change(self.core.clone(), change).await;
        }
    }
}

#[cfg(test)]
mod tests;
