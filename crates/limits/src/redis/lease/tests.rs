//! The local side of leases: carving, refills, settlement and release, without Redis.

use std::time::Duration;

use crate::limits::{KeyId, KeyLimits, WindowLimit};
use crate::redis::lease::table::{Carve, LeaseTable};

fn limits() -> KeyLimits {
    KeyLimits {
        windows: vec![WindowLimit {
            requests: Some(1000),
            ..WindowLimit::new(Duration::from_secs(3600))
        }],
        ..KeyLimits::default()
    }
}

/// A table holding a fresh lease of `slots` granted at `now` (ttl 2s).
fn leased(slots: i64, now: u64) -> (LeaseTable, KeyId, String) {
    let table = LeaseTable::new(2000, 64);
    let key = KeyId::new("n", "k");
    let Carve::Miss(Some(ask)) = table.carve(&key, &limits(), "first", 5, now) else {
        panic!("an empty table must ask for a lease");
    };
    assert!(!ask.must_exist);
    let sums = vec![([1, 5, 5, 0, 0], [0; 5])];
    assert!(table.answered(
        &key,
        &limits(),
        &ask.id,
        5,
        now,
        Some((slots, now + 2000, sums))
    ));
    (table, key, ask.id)
}

fn hit(table: &LeaseTable, key: &KeyId, id: &str, now: u64) -> (u64, bool) {
    match table.carve(key, &limits(), id, 5, now) {
        Carve::Hit { sums, change, .. } => (sums[0].0[0], change.is_some()),
        Carve::Miss(_) => panic!("{id} should be carved"),
    }
}

#[test]
fn carves_until_used_up_and_refills_below_half() {
    let (table, key, _) = leased(4, 1000);
    // Reports count the first request and every carved one.
    assert_eq!(hit(&table, &key, "a", 1000), (2, false));
    assert_eq!(hit(&table, &key, "b", 1000), (3, false));
    // One free of four: below half, one refill starts; the next carve starts none.
    assert_eq!(hit(&table, &key, "c", 1000), (4, true));
    assert_eq!(hit(&table, &key, "d", 1000), (5, false));
    // Used up while the refill is out: a plain round trip, asking for no lease.
    assert!(matches!(
        table.carve(&key, &limits(), "e", 5, 1000),
        Carve::Miss(None)
    ));
}

#[test]
fn release_gives_the_slot_back_and_settle_consumes_it_once() {
    let (table, key, id) = leased(2, 1000);
    hit(&table, &key, "a", 1000);
    hit(&table, &key, "b", 1000);
    assert!(table.released(&key, &id, "a"));
    assert!(!table.released(&key, &id, "a"), "released twice");
    hit(&table, &key, "c", 1000);
    assert!(table.settled(&key, &id, "b"));
    assert!(!table.settled(&key, &id, "b"), "settled twice");
    assert!(!table.released(&key, &id, "b"), "released after settlement");
    // Two held, one settled (no longer held), one in flight: nothing free.
    assert_eq!(table.unused(&key, &limits(), 1000).map(|u| u.1), Some(0));
}

#[test]
fn an_expiring_lease_or_other_limits_are_not_carved_from() {
    let (table, key, id) = leased(8, 1000);
    // A quarter of the ttl must be left: at 2500 only 500 of 2000 ms remain.
    let Carve::Miss(Some(ask)) = table.carve(&key, &limits(), "late", 5, 2500) else {
        panic!("an expiring lease must not be carved from");
    };
    assert_ne!(ask.id, id);
    table.abandon(&key);
    let (table, key, _) = leased(8, 1000);
    let mut other = limits();
    other.windows[0].requests = Some(10);
    assert!(matches!(
        table.carve(&key, &other, "x", 5, 1000),
        Carve::Miss(Some(_))
    ));
}

#[test]
fn a_large_estimate_needs_a_round_trip() {
    let (table, key, id) = leased(4, 1000);
    // The lease holds 4 x 5 tokens; a request estimated at 50 does not fit.
    let Carve::Miss(Some(ask)) = table.carve(&key, &limits(), "big", 50, 1000) else {
        panic!("an estimate beyond the lease's tokens must not be carved");
    };
    assert!(ask.must_exist && ask.id == id);
}
