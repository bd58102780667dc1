//! The behaviour every backend must show, written once and run against each.

use std::time::Duration;

use bytespike_limits::{
    tightest, KeyLimits, Limiter, Metric, Origin, Rejection, SettleOutcome, WindowLimit,
};

use crate::support::*;

/// Requests are capped; the rejection names the window and frees exactly when the oldest bucket rolls out.
pub async fn request_cap_rejects_with_exact_retry_after(l: &dyn Limiter) {
    let k = key("requests");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(3));
    for (i, offset) in [0, 10, 20].into_iter().enumerate() {
        let (res, _) = admitted(admit(l, &k, &limits, &format!("r{i}"), 0, at(mins(offset))).await);
        l.settle(&res, &settlement(1, 1, 0, 0, 0), at(mins(offset + 1)))
            .await
            .unwrap();
    }
    let r = rejected(admit(l, &k, &limits, "r3", 0, at(mins(30))).await);
    // The first request sits in the bucket [t0, t0+5min): it counts until t0 + 5min + 5h.
    let frees = at(BUCKET + FIVE_HOURS);
    assert_eq!(
        r,
        Rejection::OverLimit {
            window: FIVE_HOURS,
            metric: Metric::Requests,
            limit: 3,
            used: 3,
            retry_after: Some(frees.duration_since(at(mins(30))).unwrap()),
        }
    );
    let just_before = frees - Duration::from_millis(1);
    rejected(admit(l, &k, &limits, "r4", 0, just_before).await);
    admitted(admit(l, &k, &limits, "r5", 0, frees).await);
}

/// Usage in a bucket still counts just before a window has passed and no longer a bucket after.
pub async fn window_rolls_over(l: &dyn Limiter) {
    let k = key("rollover");
    let limits = one_window(FIVE_HOURS, |w| w.tokens = Some(1_000_000));
    let (res, _) = admitted(admit(l, &k, &limits, "a", 0, t0()).await);
    l.settle(&res, &settlement(100, 20, 0, 0, 0), t0())
        .await
        .unwrap();
    let before = l
        .usage(&k, &limits, at(FIVE_HOURS - Duration::from_millis(1)))
        .await
        .unwrap();
    assert_eq!(used(&before, FIVE_HOURS, Metric::Tokens), 120);
    assert_eq!(used(&before, FIVE_HOURS, Metric::Requests), 1);
    let after = l.usage(&k, &limits, at(FIVE_HOURS + BUCKET)).await.unwrap();
    assert_eq!(used(&after, FIVE_HOURS, Metric::Tokens), 0);
    assert_eq!(used(&after, FIVE_HOURS, Metric::Requests), 0);
}

/// A token cap admits while budget is left (the final size is unknown), then rejects.
pub async fn token_cap_admits_while_budget_is_left(l: &dyn Limiter) {
    let k = key("tokens");
    let limits = one_window(FIVE_HOURS, |w| w.tokens = Some(100));
    admitted(admit(l, &k, &limits, "a", 90, t0()).await);
    let (_, report) = admitted(admit(l, &k, &limits, "b", 50, at(mins(6))).await);
    assert_eq!(used(&report, FIVE_HOURS, Metric::Tokens), 140);
    let r = rejected(admit(l, &k, &limits, "c", 1, at(mins(7))).await);
    // Dropping the first bucket (90) leaves 50 < 100.
    assert_eq!(
        r.retry_after(),
        Some(at(BUCKET + FIVE_HOURS).duration_since(at(mins(7))).unwrap())
    );
}

/// Settlement replaces the estimate with the real counts; cache reads weigh 0 in tokens but count in cost.
pub async fn settle_replaces_the_estimate(l: &dyn Limiter) {
    let k = key("settle");
    let limits = one_window(FIVE_HOURS, |w| {
        w.tokens = Some(10_000);
        w.cost_micros = Some(1_000_000);
    });
    let (res, report) = admitted(admit(l, &k, &limits, "a", 1000, t0()).await);
    assert_eq!(used(&report, FIVE_HOURS, Metric::Tokens), 1000);
    assert_eq!(used(&report, FIVE_HOURS, Metric::InputTokens), 1000);
    let outcome = l
        .settle(&res, &settlement(10, 5, 400, 3, 42), at(mins(2)))
        .await
        .unwrap();
    assert_eq!(outcome, SettleOutcome::Settled);
    let u = l.usage(&k, &limits, at(mins(3))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 18);
    assert_eq!(used(&u, FIVE_HOURS, Metric::InputTokens), 13);
    assert_eq!(used(&u, FIVE_HOURS, Metric::OutputTokens), 5);
    assert_eq!(used(&u, FIVE_HOURS, Metric::CostMicros), 42);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 1);

    let weighted = KeyLimits {
        cache_read_weight_permille: 250,
        ..limits.clone()
    };
    let k2 = key("settle-weighted");
    let (res, _) = admitted(admit(l, &k2, &weighted, "b", 7, t0()).await);
    l.settle(&res, &settlement(10, 5, 400, 3, 42), t0())
        .await
        .unwrap();
    let u = l.usage(&k2, &weighted, t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 118);
}

/// Release leaves usage exactly as it was before the admission.
pub async fn release_leaves_usage_unchanged(l: &dyn Limiter) {
    let k = key("release");
    let limits = one_window(FIVE_HOURS, |w| {
        w.requests = Some(10);
        w.tokens = Some(10_000);
    });
    let (res, _) = admitted(admit(l, &k, &limits, "kept", 10, t0()).await);
    l.settle(&res, &settlement(10, 10, 0, 0, 9), t0())
        .await
        .unwrap();
    let before = l.usage(&k, &limits, at(mins(1))).await.unwrap();
    let (res, report) = admitted(admit(l, &k, &limits, "failed", 500, at(mins(1))).await);
    assert_eq!(used(&report, FIVE_HOURS, Metric::Tokens), 520);
    l.release(&res, at(mins(2))).await.unwrap();
    // Releasing twice is harmless.
    l.release(&res, at(mins(2))).await.unwrap();
    let after = l.usage(&k, &limits, at(mins(1))).await.unwrap();
    assert_eq!(before, after);
}

/// Settling the same request twice counts it once.
pub async fn settling_twice_counts_once(l: &dyn Limiter) {
    let k = key("twice");
    let limits = one_window(FIVE_HOURS, |w| w.tokens = Some(10_000));
    let (res, _) = admitted(admit(l, &k, &limits, "a", 100, t0()).await);
    let s = settlement(30, 20, 0, 0, 5);
    assert_eq!(
        l.settle(&res, &s, t0()).await.unwrap(),
        SettleOutcome::Settled
    );
    assert_eq!(
        l.settle(&res, &s, at(mins(1))).await.unwrap(),
        SettleOutcome::Duplicate
    );
    let u = l.usage(&k, &limits, at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 50);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 1);
}

/// A reservation nobody settles expires after its TTL and frees its budget.
pub async fn expired_reservation_is_purged(l: &dyn Limiter) {
    let k = key("expired");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(1));
    let (orphan, _) = admitted(admit(l, &k, &limits, "orphan", 100, t0()).await);
    rejected(admit(l, &k, &limits, "b", 0, at(mins(1))).await);
    rejected(
        admit(
            l,
            &k,
            &limits,
            "c",
            0,
            at(RESERVATION_TTL - Duration::from_millis(1)),
        )
        .await,
    );
    let u = l.usage(&k, &limits, at(RESERVATION_TTL)).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 0);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 0);
    admitted(admit(l, &k, &limits, "d", 0, at(RESERVATION_TTL)).await);
    // A late settlement of the purged request still counts its real usage, once.
    l.settle(
        &orphan,
        &settlement(7, 3, 0, 0, 0),
        at(RESERVATION_TTL + mins(1)),
    )
    .await
    .unwrap();
    let u = l
        .usage(&k, &limits, at(RESERVATION_TTL + mins(1)))
        .await
        .unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 2);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 10);
}

/// In-flight requests beyond `max_concurrent` are rejected with their own reason.
pub async fn max_concurrent_caps_in_flight(l: &dyn Limiter) {
    let k = key("concurrent");
    let limits = KeyLimits {
        max_concurrent: Some(2),
        ..KeyLimits::default()
    };
    let (a, report) = admitted(admit(l, &k, &limits, "a", 0, t0()).await);
    assert!(report.is_empty());
    admitted(admit(l, &k, &limits, "b", 0, t0()).await);
    assert_eq!(
        rejected(admit(l, &k, &limits, "c", 0, t0()).await),
        Rejection::TooManyConcurrent {
            limit: 2,
            in_flight: 2
        }
    );
    l.release(&a, t0()).await.unwrap();
    let (c, _) = admitted(admit(l, &k, &limits, "c", 0, t0()).await);
    l.settle(&c, &settlement(1, 1, 0, 0, 0), t0())
        .await
        .unwrap();
    admitted(admit(l, &k, &limits, "d", 0, t0()).await);
}

/// Of several exhausted windows, the rejection names the one that frees last.
pub async fn rejection_names_the_window_that_frees_last(l: &dyn Limiter) {
    let k = key("worst");
    let hour = Duration::from_secs(3600);
    let limits = KeyLimits {
        windows: vec![
            WindowLimit {
                requests: Some(1),
                ..WindowLimit::new(hour)
            },
            WindowLimit {
                cost_micros: Some(100),
                ..WindowLimit::new(FIVE_HOURS)
            },
        ],
        ..KeyLimits::default()
    };
    let (res, _) = admitted(admit(l, &k, &limits, "a", 0, t0()).await);
    l.settle(&res, &settlement(1, 1, 0, 0, 150), t0())
        .await
        .unwrap();
    match rejected(admit(l, &k, &limits, "b", 0, at(mins(5))).await) {
        Rejection::OverLimit {
            window,
            metric,
            used,
            ..
        } => {
            assert_eq!(
                (window, metric, used),
                (FIVE_HOURS, Metric::CostMicros, 150)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let zero = one_window(hour, |w| w.requests = Some(0));
    assert_eq!(
        rejected(admit(l, &key("zero"), &zero, "z", 0, t0()).await).retry_after(),
        None
    );
}

/// The admission report covers every window and metric; the tightest is the least remaining share.
pub async fn admission_reports_every_window(l: &dyn Limiter) {
    let k = key("report");
    let day = Duration::from_secs(86_400);
    let limits = KeyLimits {
        windows: vec![
            WindowLimit {
                requests: Some(4),
                ..WindowLimit::new(FIVE_HOURS)
            },
            WindowLimit {
                tokens: Some(1000),
                ..WindowLimit::new(day)
            },
        ],
        ..KeyLimits::default()
    };
    let (res, report) = admitted(admit(l, &k, &limits, "a", 100, t0()).await);
    assert_eq!(report.len(), 10);
    assert_eq!(
        res.windows_ms,
        vec![FIVE_HOURS.as_millis() as u64, day.as_millis() as u64]
    );
    let t = tightest(&report).unwrap();
    assert_eq!(
        (t.window, t.metric, t.remaining),
        (FIVE_HOURS, Metric::Requests, Some(3))
    );
    assert_eq!(t.resets_at, at(BUCKET + FIVE_HOURS));
}

/// A key with no limits is admitted without holding anything.
pub async fn unlimited_key_holds_nothing(l: &dyn Limiter) {
    let k = key("free");
    let (res, report) = admitted(admit(l, &k, &KeyLimits::default(), "a", 10, t0()).await);
    assert_eq!(res.origin, Origin::Untracked);
    assert!(report.is_empty());
    l.release(&res, t0()).await.unwrap();
}

/// The request counts from its admission; its tokens from when they were consumed (settlement).
pub async fn tokens_count_from_settlement(l: &dyn Limiter) {
    let k = key("long-request");
    let limits = one_window(FIVE_HOURS, |w| {
        w.requests = Some(10);
        w.tokens = Some(10_000);
    });
    let (res, _) = admitted(admit(l, &k, &limits, "a", 100, t0()).await);
    l.settle(&res, &settlement(60, 40, 0, 0, 0), at(mins(20)))
        .await
        .unwrap();
    let u = l.usage(&k, &limits, at(FIVE_HOURS + BUCKET)).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 0);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 100);
    let u = l
        .usage(&k, &limits, at(FIVE_HOURS + mins(25)))
        .await
        .unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 0);
}
