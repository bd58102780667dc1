//! This replica's leases, one per key: carving a request out of one is a map lookup under a
//! lock, never a Redis call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::limits::{KeyId, KeyLimits};
use crate::memory::WindowSums;

/// One lease: request slots (and their input-token estimates) held in Redis for this replica.
pub(crate) struct Lease {
    pub id: String,
    /// The limits it was granted under; other limits (a config reload) need a new lease.
    pub limits: KeyLimits,
    /// Input tokens held per slot granted.
    pub per_slot: u64,
    pub held_slots: u64,
    pub held_tokens: u64,
    /// Requests in flight carved from it, with their estimates; part of what it holds.
    pub carved: HashMap<String, u64>,
    pub carved_tokens: u64,
    /// Free slots right after the last grant; a refill starts below half of it.
    pub target: u64,
    pub expires_at_ms: u64,
    /// Sums of the last Redis answer, this lease left out.
    pub sums: WindowSums,
    /// A `now` seen and when: background calls continue this clock.
    pub clock: (u64, Instant),
    /// Whether anything was carved since the last extension.
    pub active: bool,
}

impl Lease {
    pub fn free_slots(&self) -> u64 {
        self.held_slots.saturating_sub(self.carved.len() as u64)
    }

    pub fn free_tokens(&self) -> u64 {
        self.held_tokens.saturating_sub(self.carved_tokens)
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.0 + self.clock.1.elapsed().as_millis() as u64
    }

    /// The last answer plus the requests carved since: what a round trip would have reported.
    fn report_sums(&self) -> WindowSums {
        let mut sums = self.sums.clone();
        let slots = self.carved.len() as u64;
        for (used, _) in &mut sums {
            used[0] += slots;
            used[1] += self.carved_tokens;
            used[2] += self.carved_tokens;
        }
        sums
    }
}

#[derive(Default)]
pub(crate) struct Entry {
    pub lease: Option<Lease>,
    /// A grant, refill or return of this key is in flight (one at a time per key).
    pub busy: bool,
    /// Wakes the requests waiting for that change to land.
    pub changed: Arc<Notify>,
}

/// A lease to grow along with a round-trip admission.
pub(crate) struct Ask {
    pub id: String,
    pub slots: u64,
    pub must_exist: bool,
}

/// A background change of a lease: grow (`delta > 0`), extend (`0`) or give back (`< 0`).
pub(crate) struct Change {
    pub key: KeyId,
    pub limits: KeyLimits,
    pub id: String,
    pub delta: i64,
    pub per_slot: u64,
    pub back_tokens: u64,
    pub now_ms: u64,
}

/// The outcome of looking for a lease slot.
pub(crate) enum Carve {
    /// Admitted from the lease; `change` is a refill to start in the background.
    Hit {
        lease: String,
        sums: WindowSums,
        change: Option<Change>,
    },
    /// Needs a round trip, growing this lease along with it if given.
    Miss(Option<Ask>),
}

/// Every lease of this replica.
pub(crate) struct LeaseTable {
    entries: Mutex<HashMap<KeyId, Entry>>,
    replica: String,
    seq: AtomicU64,
    pub ttl_ms: u64,
    pub max_slots: u64,
}

impl LeaseTable {
    pub fn new(ttl_ms: u64, max_slots: u64) -> Self {
        // Lease ids only need to differ between replicas and restarts, not to be secret.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            (nanos, std::process::id()),
        );
        Self {
            entries: Mutex::default(),
            replica: format!("{seed:016x}"),
            seq: AtomicU64::new(0),
            ttl_ms,
            max_slots,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<KeyId, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one request out of the key's lease, or says which lease to ask Redis for.
    pub fn carve(
        &self,
        key: &KeyId,
        limits: &KeyLimits,
        request_id: &str,
        estimate: u64,
        now_ms: u64,
    ) -> Carve {
        let mut map = self.lock();
        if !map.contains_key(key) {
            map.insert(key.clone(), Entry::default());
        }
        let entry = map.get_mut(key).expect("inserted above");
        if let Some(l) = &mut entry.lease {
            // A quarter of the ttl in hand covers clock skew between replicas and a late refill.
            let live = now_ms + self.ttl_ms / 4 < l.expires_at_ms;
            if l.limits != *limits || !live {
                // Its slots return when it expires in Redis (at most one ttl).
                entry.lease = None;
            } else if l.free_slots() > 0 && l.free_tokens() >= estimate {
                l.carved.insert(request_id.to_string(), estimate);
                l.carved_tokens += estimate;
                l.active = true;
                l.clock = (now_ms, Instant::now());
                let free = l.free_slots();
                let due = free * 2 < l.target || now_ms + self.ttl_ms / 2 >= l.expires_at_ms;
                let change = (due && !entry.busy).then(|| Change {
                    key: key.clone(),
                    limits: l.limits.clone(),
                    id: l.id.clone(),
                    delta: self.max_slots.saturating_sub(free) as i64,
                    per_slot: l.per_slot.max(estimate),
                    back_tokens: 0,
                    now_ms,
                });
                entry.busy |= change.is_some();
                return Carve::Hit {
                    lease: l.id.clone(),
                    sums: l.report_sums(),
                    change,
                };
            }
        }
        if entry.busy {
            return Carve::Miss(None);
        }
        entry.busy = true;
        Carve::Miss(Some(match &entry.lease {
            Some(l) => Ask {
                id: l.id.clone(),
                slots: self.max_slots.saturating_sub(l.free_slots()),
                must_exist: true,
            },
            None => Ask {
                id: format!(
                    "lease:{}:{}",
                    self.replica,
                    self.seq.fetch_add(1, Ordering::Relaxed)
                ),
                slots: self.max_slots,
                must_exist: false,
            },
        }))
    }

    /// Records Redis's answer about lease `id`: `None` if it is gone, else slots granted (or
    /// given back), expiry and sums without the lease. True when a new lease was created.
    #[allow(clippy::too_many_arguments)]
    pub fn answered(
        &self,
        key: &KeyId,
        limits: &KeyLimits,
        id: &str,
        per_slot: u64,
        now_ms: u64,
        answer: Option<(i64, u64, WindowSums)>,
    ) -> bool {
        let mut map = self.lock();
        let Some(entry) = map.get_mut(key) else {
            return false;
        };
        entry.busy = false;
        entry.changed.notify_waiters();
        let mine = entry.lease.as_ref().is_some_and(|l| l.id == id);
        let Some((granted, expires_at_ms, sums)) = answer else {
            if mine {
                entry.lease = None;
            }
            return false;
        };
        let clock = (now_ms, Instant::now());
        if mine {
            let l = entry.lease.as_mut().expect("checked above");
            if granted > 0 {
                l.held_slots += granted as u64;
                l.held_tokens += granted as u64 * per_slot;
                l.per_slot = l.per_slot.max(per_slot);
            }
            l.expires_at_ms = expires_at_ms;
            l.sums = sums;
            l.target = l.free_slots();
            l.clock = clock;
            l.active = false;
            if l.held_slots == 0 && l.carved.is_empty() {
                entry.lease = None;
            }
            return false;
        }
        if granted <= 0 || entry.lease.is_some() {
            return false;
        }
        entry.lease = Some(Lease {
            id: id.to_string(),
            limits: limits.clone(),
            per_slot,
            held_slots: granted as u64,
            held_tokens: granted as u64 * per_slot,
            carved: HashMap::new(),
            carved_tokens: 0,
            target: granted as u64,
            expires_at_ms,
            sums,
            clock,
            active: false,
        });
        true
    }

    /// A round trip that asked for a lease failed or was rejected: others may ask again.
    pub fn abandon(&self, key: &KeyId) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.busy = false;
            entry.changed.notify_waiters();
        }
    }

    /// What wakes the waiters of the key's lease change in flight, if one is.
    pub fn change_in_flight(&self, key: &KeyId) -> Option<Arc<Notify>> {
        let map = self.lock();
        map.get(key)
            .filter(|entry| entry.busy)
            .map(|entry| entry.changed.clone())
    }

    /// A carved request was settled: the lease no longer holds its slot. False if the request
    /// was not (or no longer) carved from this replica's current lease.
    pub fn settled(&self, key: &KeyId, lease: &str, request_id: &str) -> bool {
        self.finish(key, lease, request_id, true)
    }

    /// A carved request failed: its slot goes back to the lease, unbilled.
    pub fn released(&self, key: &KeyId, lease: &str, request_id: &str) -> bool {
        self.finish(key, lease, request_id, false)
    }

    fn finish(&self, key: &KeyId, lease: &str, request_id: &str, used: bool) -> bool {
        let mut map = self.lock();
        let Some(l) = map
            .get_mut(key)
            .and_then(|e| e.lease.as_mut())
            .filter(|l| l.id == lease)
        else {
            return false;
        };
        let Some(estimate) = l.carved.remove(request_id) else {
            return false;
        };
        l.carved_tokens -= estimate;
        if used {
            l.held_slots -= 1;
            l.held_tokens = l.held_tokens.saturating_sub(estimate);
        }
        true
    }

    /// This replica's live lease of the key counted in the same windows as `limits`: its id and
    /// unused slots and tokens.
    pub fn unused(
        &self,
        key: &KeyId,
        limits: &KeyLimits,
        now_ms: u64,
    ) -> Option<(String, u64, u64)> {
        let map = self.lock();
        let l = map.get(key)?.lease.as_ref()?;
        let same = l.limits.windows.len() == limits.windows.len()
            && l.limits
                .windows
                .iter()
                .zip(&limits.windows)
                .all(|(a, b)| a.window == b.window);
        (same && now_ms < l.expires_at_ms).then(|| (l.id.clone(), l.free_slots(), l.free_tokens()))
    }
}
