//! Integration tests: the shared behaviour suite on every backend, and Redis-only scenarios.

mod batch;
mod cluster;
mod joined;
mod lease;
mod ledger;
mod outage;
mod replicas;
mod server;
mod suite;
mod support;
mod tls;

/// Runs each suite scenario against a fresh backend built by `$backend`.
macro_rules! run_suite {
    ($module:ident, $backend:path, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let backend = $backend();
                    crate::suite::$case(backend.limiter.as_ref()).await;
                }
            )*
        }
    };
}

macro_rules! run_suite_everywhere {
    ($($case:ident),* $(,)?) => {
        run_suite!(memory_backend, crate::support::memory, [$($case),*]);
        run_suite!(redis_backend, crate::support::redis, [$($case),*]);
        run_suite!(redis_lease_backend, crate::support::redis_leased, [$($case),*]);
    };
}

run_suite_everywhere!(
    request_cap_rejects_with_exact_retry_after,
    window_rolls_over,
    token_cap_admits_while_budget_is_left,
    settle_replaces_the_estimate,
    release_leaves_usage_unchanged,
    settling_twice_counts_once,
    expired_reservation_is_purged,
    max_concurrent_caps_in_flight,
    rejection_names_the_window_that_frees_last,
    admission_reports_every_window,
    unlimited_key_holds_nothing,
    tokens_count_from_settlement,
);
