//! The series a finished request updates, resolved once per label set.
//!
//! `with_label_values` hashes every label value and probes its family's map under a lock on each
//! call; a served request updates up to nine series (requests, duration, time to first byte,
//! tokens by kind, cost, and the key's own), which cost about as much as reading its body's
//! `model`. Here the series of one route (client protocol, upstream protocol, provider, model,
//! route kind) and of one key are kept together, found with one hash and one probe per request,
//! and each is resolved from its family the first time a request needs it, so `/metrics` shows
//! exactly the series it showed before.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock, RwLock};

use bytespike_protocol::Usage;
use prometheus::{Counter, CounterVec, Histogram, HistogramVec, IntCounter, IntCounterVec};

/// Beyond this many label sets (a config that names more routes or keys than any deployment
/// has, or one changed many times over) the series are resolved per request, not kept, so the
/// cache cannot grow without bound.
const MAX_LABEL_SETS: usize = 4096;

/// `2xx`, `4xx`, `5xx`..., or `none` when no response was sent.
pub fn status_class(status: u16) -> &'static str {
    STATUS_CLASSES[status_class_index(status)]
}

const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "none"];

fn status_class_index(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => 5,
    }
}

/// Token kinds of `bytespike_tokens_total`, in the order of [`token_counts`].
const TOKEN_KINDS: [&str; 5] = ["input", "output", "cache_read", "cache_write", "reasoning"];

/// `usage`'s counts in the order of [`TOKEN_KINDS`].
fn token_counts(usage: &Usage) -> [u64; 5] {
    [
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    ]
}

/// Label sets seen so far and their series, by a hash of the labels.
pub struct SeriesCache<V, const N: usize> {
    hasher: foldhash::fast::RandomState,
    sets: RwLock<HashMap<u64, Vec<Entry<V, N>>, foldhash::fast::RandomState>>,
}

struct Entry<V, const N: usize> {
    labels: [Box<str>; N],
    series: Arc<V>,
}

impl<V, const N: usize> Default for SeriesCache<V, N> {
    fn default() -> Self {
        Self {
            hasher: Default::default(),
            sets: RwLock::new(HashMap::default()),
        }
    }
}

impl<V, const N: usize> SeriesCache<V, N> {
    /// The series of `labels`, made by `make` the first time they are seen.
    pub fn get(&self, labels: [&str; N], make: impl FnOnce() -> V) -> Arc<V> {
        // `str`'s `Hash` ends each value with a separator: ("ab", "c") and ("a", "bc") differ.
        let hash = self.hasher.hash_one(labels);
        let same = |entry: &&Entry<V, N>| entry.labels.iter().map(|l| &**l).eq(labels);
        {
            let sets = self.sets.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = sets.get(&hash).and_then(|b| b.iter().find(same)) {
                return entry.series.clone();
            }
        }
        let mut sets = self.sets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = sets.get(&hash).and_then(|b| b.iter().find(same)) {
            return entry.series.clone();
        }
        let series = Arc::new(make());
        if sets.len() < MAX_LABEL_SETS {
            sets.entry(hash).or_default().push(Entry {
                labels: labels.map(Box::from),
                series: series.clone(),
            });
        }
        series
    }
}

/// The families a route's series come from (clones: each shares its family's state).
pub struct RouteFamilies {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
    pub ttfb: HistogramVec,
    pub tokens: IntCounterVec,
    pub cost: CounterVec,
    pub time_per_output_token: HistogramVec,
}

/// Labels of a route: client protocol, upstream protocol, provider, model, route kind.
pub type RouteLabels<'a> = [&'a str; 5];

/// The series of one route, each resolved when a request first needs it.
pub struct RouteSeries {
    labels: [Box<str>; 5],
    families: RouteFamilies,
    requests: [OnceLock<IntCounter>; 6],
    duration: [OnceLock<Histogram>; 6],
    ttfb: [OnceLock<Histogram>; 2],
    tokens: [OnceLock<IntCounter>; 5],
    cost: OnceLock<Counter>,
    time_per_output_token: OnceLock<Histogram>,
}

impl RouteSeries {
    pub fn new(labels: RouteLabels<'_>, families: RouteFamilies) -> Self {
        Self {
            labels: labels.map(Box::from),
            families,
            requests: Default::default(),
            duration: Default::default(),
            ttfb: Default::default(),
            tokens: Default::default(),
            cost: OnceLock::new(),
            time_per_output_token: OnceLock::new(),
        }
    }

    fn client(&self) -> &str {
        &self.labels[0]
    }
    fn provider(&self) -> &str {
        &self.labels[2]
    }
    fn model(&self) -> &str {
        &self.labels[3]
    }
    fn route(&self) -> &str {
        &self.labels[4]
    }

    /// `bytespike_requests_total` for responses of `status`.
    pub fn requests(&self, status: u16) -> &IntCounter {
        let class = status_class_index(status);
        self.requests[class].get_or_init(|| {
            let [client, upstream, provider, model, route] = self.labels.each_ref().map(|l| &**l);
            self.families.requests.with_label_values(&[
                client,
                upstream,
                provider,
                model,
                route,
                STATUS_CLASSES[class],
            ])
        })
    }

    /// `bytespike_request_duration_seconds` for responses of `status`.
    pub fn duration(&self, status: u16) -> &Histogram {
        let class = status_class_index(status);
        self.duration[class].get_or_init(|| {
            self.families.duration.with_label_values(&[
                self.client(),
                self.route(),
                STATUS_CLASSES[class],
            ])
        })
    }

    /// `bytespike_time_to_first_byte_seconds` of streamed or whole answers.
    pub fn ttfb(&self, stream: bool) -> &Histogram {
        self.ttfb[usize::from(stream)].get_or_init(|| {
            let stream = if stream { "true" } else { "false" };
            self.families.ttfb.with_label_values(&[
                self.client(),
                self.provider(),
                self.model(),
                stream,
            ])
        })
    }

    /// Adds `usage` to `bytespike_tokens_total`, kind by kind; kinds it has none of are left
    /// alone (no series at zero appears for them).
    pub fn add_tokens(&self, usage: &Usage) {
        for (kind, count) in token_counts(usage).into_iter().enumerate() {
            if count > 0 {
                self.tokens(kind).inc_by(count);
            }
        }
    }

    /// `bytespike_tokens_total` of the kind at `kind` in [`TOKEN_KINDS`].
    fn tokens(&self, kind: usize) -> &IntCounter {
        self.tokens[kind].get_or_init(|| {
            self.families.tokens.with_label_values(&[
                TOKEN_KINDS[kind],
                self.provider(),
                self.model(),
            ])
        })
    }

    /// `bytespike_cost_usd_total`.
    pub fn cost(&self) -> &Counter {
        self.cost.get_or_init(|| {
            (self.families.cost).with_label_values(&[self.provider(), self.model()])
        })
    }

    /// `bytespike_time_per_output_token_seconds`.
    pub fn time_per_output_token(&self) -> &Histogram {
        self.time_per_output_token.get_or_init(|| {
            (self.families.time_per_output_token)
                .with_label_values(&[self.provider(), self.model()])
        })
    }
}

/// The families a key's series come from.
pub struct KeyFamilies {
    pub requests: IntCounterVec,
    pub tokens: IntCounterVec,
    pub cost: CounterVec,
    pub rate_limited: IntCounterVec,
}

/// The series of one key (`namespace/name`), each resolved when a request first needs it.
pub struct KeySeries {
    key: Box<str>,
    families: KeyFamilies,
    requests: [OnceLock<IntCounter>; 6],
    tokens: OnceLock<IntCounter>,
    cost: OnceLock<Counter>,
    rate_limited: OnceLock<IntCounter>,
}

impl KeySeries {
    pub fn new(key: &str, families: KeyFamilies) -> Self {
        Self {
            key: key.into(),
            families,
            requests: Default::default(),
            tokens: OnceLock::new(),
            cost: OnceLock::new(),
            rate_limited: OnceLock::new(),
        }
    }

    /// `bytespike_key_requests_total` for responses of `status`.
    pub fn requests(&self, status: u16) -> &IntCounter {
        let class = status_class_index(status);
        self.requests[class].get_or_init(|| {
            (self.families.requests).with_label_values(&[&self.key, STATUS_CLASSES[class]])
        })
    }

    /// `bytespike_key_tokens_total`.
    pub fn tokens(&self) -> &IntCounter {
        (self.tokens).get_or_init(|| self.families.tokens.with_label_values(&[&self.key]))
    }

    /// `bytespike_key_cost_usd_total`.
    pub fn cost(&self) -> &Counter {
        (self.cost).get_or_init(|| self.families.cost.with_label_values(&[&self.key]))
    }

    /// `bytespike_key_rate_limited_total`.
    pub fn rate_limited(&self) -> &IntCounter {
        (self.rate_limited)
            .get_or_init(|| self.families.rate_limited.with_label_values(&[&self.key]))
    }
}

#[cfg(test)]
mod tests;
