use super::*;
use prometheus::core::Collector;
use prometheus::{HistogramOpts, Opts};

fn route_families() -> RouteFamilies {
    let counter =
        |name: &str, labels: &[&str]| IntCounterVec::new(Opts::new(name, "test"), labels).unwrap();
    let histogram = |name: &str, labels: &[&str]| {
        HistogramVec::new(HistogramOpts::new(name, "test"), labels).unwrap()
    };
    RouteFamilies {
        requests: counter(
            "requests",
            &["client", "upstream", "provider", "model", "route", "class"],
        ),
        duration: histogram("duration", &["client", "route", "class"]),
        ttfb: histogram("ttfb", &["client", "provider", "model", "stream"]),
        tokens: counter("tokens", &["kind", "provider", "model"]),
        cost: CounterVec::new(Opts::new("cost", "test"), &["provider", "model"]).unwrap(),
        time_per_output_token: histogram("tpot", &["provider", "model"]),
    }
}

const ROUTE: RouteLabels<'static> = ["anthropic", "openai", "acme", "gpt-5-4", "translated"];

fn series_in(family: &impl Collector) -> usize {
    family.collect().iter().map(|f| f.get_metric().len()).sum()
}

#[test]
fn a_routes_series_count_into_their_families_under_the_routes_labels() {
    let families = route_families();
    let series = RouteSeries::new(ROUTE, route_families_sharing(&families));
    series.requests(200).inc();
    series.requests(204).inc();
    series.requests(503).inc();
    series.duration(200).observe(0.25);
    series.ttfb(true).observe(0.1);
    series.add_tokens(&Usage {
        input_tokens: 1,
        output_tokens: 2,
        cache_read_tokens: 3,
        cache_write_tokens: 4,
        reasoning_tokens: 5,
    });
    series.cost().inc_by(0.5);
    series.time_per_output_token().observe(0.01);

    let requests = |class| {
        let [client, upstream, provider, model, route] = ROUTE;
        (families.requests)
            .with_label_values(&[client, upstream, provider, model, route, class])
            .get()
    };
    assert_eq!(requests("2xx"), 2);
    assert_eq!(requests("5xx"), 1);
    let duration = families
        .duration
        .with_label_values(&["anthropic", "translated", "2xx"]);
    assert_eq!(duration.get_sample_count(), 1);
    let ttfb = (families.ttfb).with_label_values(&["anthropic", "acme", "gpt-5-4", "true"]);
    assert_eq!(ttfb.get_sample_count(), 1);
    let kinds = ["input", "output", "cache_read", "cache_write", "reasoning"];
    for (count, kind) in (1..).zip(kinds) {
        let tokens = (families.tokens).with_label_values(&[kind, "acme", "gpt-5-4"]);
        assert_eq!(tokens.get(), count, "{kind}");
    }
    assert_eq!(
        families.cost.with_label_values(&["acme", "gpt-5-4"]).get(),
        0.5
    );
    let tpot = (families.time_per_output_token).with_label_values(&["acme", "gpt-5-4"]);
    assert_eq!(tpot.get_sample_count(), 1);
}

/// Families that share the state of `families`, as `ProxyMetrics` hands them out.
fn route_families_sharing(families: &RouteFamilies) -> RouteFamilies {
    RouteFamilies {
        requests: families.requests.clone(),
        duration: families.duration.clone(),
        ttfb: families.ttfb.clone(),
        tokens: families.tokens.clone(),
        cost: families.cost.clone(),
        time_per_output_token: families.time_per_output_token.clone(),
    }
}

#[test]
fn only_the_series_a_request_used_appear() {
    let families = route_families();
    let series = RouteSeries::new(ROUTE, route_families_sharing(&families));
    series.requests(200).inc();
    series.add_tokens(&Usage {
        input_tokens: 3,
        ..Usage::default()
    });
    assert_eq!(series_in(&families.requests), 1);
    assert_eq!(
        series_in(&families.tokens),
        1,
        "only the input tokens' series"
    );
    assert_eq!(series_in(&families.duration), 0);
    assert_eq!(series_in(&families.ttfb), 0);
    assert_eq!(series_in(&families.cost), 0);
}

#[test]
fn a_keys_series_count_under_its_name() {
    let counter =
        |name: &str, labels: &[&str]| IntCounterVec::new(Opts::new(name, "test"), labels).unwrap();
    let families = KeyFamilies {
        requests: counter("key_requests", &["key", "class"]),
        tokens: counter("key_tokens", &["key"]),
        cost: CounterVec::new(Opts::new("key_cost", "test"), &["key"]).unwrap(),
        rate_limited: counter("key_limited", &["key"]),
    };
    let shared = KeyFamilies {
        requests: families.requests.clone(),
        tokens: families.tokens.clone(),
        cost: families.cost.clone(),
        rate_limited: families.rate_limited.clone(),
    };
    let series = KeySeries::new("team/app", shared);
    series.requests(429).inc();
    series.rate_limited().inc();
    series.tokens().inc_by(12);
    series.cost().inc_by(0.25);
    let requests = families.requests.with_label_values(&["team/app", "4xx"]);
    assert_eq!(requests.get(), 1);
    assert_eq!(
        families.rate_limited.with_label_values(&["team/app"]).get(),
        1
    );
    assert_eq!(families.tokens.with_label_values(&["team/app"]).get(), 12);
    assert_eq!(families.cost.with_label_values(&["team/app"]).get(), 0.25);
}

#[test]
fn one_label_set_is_resolved_once_and_sets_that_join_alike_stay_apart() {
    let cache: SeriesCache<String, 2> = SeriesCache::default();
    let first = cache.get(["ab", "c"], || "ab|c".to_string());
    let again = cache.get(["ab", "c"], || unreachable!("kept from the first request"));
    let other = cache.get(["a", "bc"], || "a|bc".to_string());
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(*other, "a|bc");
}

#[test]
fn past_the_cap_label_sets_are_resolved_each_time_not_kept() {
    let cache: SeriesCache<usize, 1> = SeriesCache::default();
    let names: Vec<String> = (0..MAX_LABEL_SETS).map(|i| format!("key-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        cache.get([name], || i);
    }
    let mut made = 0;
    for _ in 0..2 {
        cache.get(["one-too-many"], || {
            made += 1;
            made
        });
    }
    assert_eq!(made, 2, "not kept past the cap");
    assert_eq!(*cache.get(["key-7"], || usize::MAX), 7, "those kept stay");
}

#[test]
fn statuses_fall_in_their_classes() {
    let cases = [
        (100, "1xx"),
        (200, "2xx"),
        (299, "2xx"),
        (302, "3xx"),
        (429, "4xx"),
        (599, "5xx"),
        (0, "none"),
        (99, "none"),
        (600, "none"),
    ];
    for (status, class) in cases {
        assert_eq!(status_class(status), class, "status {status}");
    }
}
