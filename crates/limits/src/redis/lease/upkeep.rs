//! Keeping a lease alive while it is used, and giving its unused slots back when it is not.

use crate::limits::KeyId;
use crate::redis::lease::table::{Change, Lease, LeaseTable};

/// What the keeper of one lease does now.
pub(crate) enum Tick {
    /// The lease is gone (replaced, expired or empty): the keeper ends.
    Exit,
    /// Nothing due yet.
    Wait,
    /// Send this change to Redis.
    Send(Change),
}

impl LeaseTable {
    /// Decides the keeper's step for lease `id` of `key`. Before half its ttl is used, an active
    /// lease is topped up and extended (requests carved from it stay counted while in flight);
    /// an idle one gives its unused slots back and keeps only what is in flight.
    pub fn tick(&self, key: &KeyId, id: &str) -> Tick {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(key) else {
            return Tick::Exit;
        };
        let Some(l) = entry.lease.as_mut().filter(|l| l.id == id) else {
            return Tick::Exit;
        };
        let now_ms = l.now_ms();
        if now_ms >= l.expires_at_ms {
            // Redis purges it (or already did); its in-flight requests count from settlement.
            entry.lease = None;
            return Tick::Exit;
        }
        if entry.busy || now_ms + self.ttl_ms / 2 < l.expires_at_ms {
            return Tick::Wait;
        }
        entry.busy = true;
        let change = if l.active {
            l.active = false;
            let free = l.free_slots();
            self.change(
                key,
                l,
                self.max_slots.saturating_sub(free) as i64,
                0,
                now_ms,
            )
        } else {
            give_back(self, key, l, now_ms)
        };
        Tick::Send(change)
    }

    /// Gives back the unused slots of every lease (shutdown).
    pub fn give_back_all(&self) -> Vec<Change> {
        let mut map = self.lock();
        let mut out = Vec::new();
        for (key, entry) in map.iter_mut() {
            if entry.busy {
                continue;
            }
            if let Some(l) = entry.lease.as_mut().filter(|l| l.free_slots() > 0) {
                let now_ms = l.now_ms();
                entry.busy = true;
                out.push(give_back(self, key, l, now_ms));
            }
        }
        out
    }

    fn change(&self, key: &KeyId, l: &Lease, delta: i64, back: u64, now_ms: u64) -> Change {
        Change {
            key: key.clone(),
            limits: l.limits.clone(),
            id: l.id.clone(),
            delta,
            per_slot: l.per_slot,
            back_tokens: back,
            now_ms,
        }
    }
}

/// Takes the unused slots out of the lease first, so nothing is carved from them meanwhile.
fn give_back(table: &LeaseTable, key: &KeyId, l: &mut Lease, now_ms: u64) -> Change {
    let (free, tokens) = (l.free_slots(), l.free_tokens());
    l.held_slots -= free;
    l.held_tokens -= tokens;
    table.change(key, l, -(free as i64), tokens, now_ms)
}
