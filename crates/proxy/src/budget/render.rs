//! Limits as callers see them: response headers in each vendor's convention, the 429 message,
//! and the `/v1/usage` document.

use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use bytespike_limits::{Metric, Rejection, WindowUsage};
use bytespike_protocol::{Dialect, ErrorKind, GatewayError};
use http::{HeaderMap, HeaderName, HeaderValue};
use pingora_error::{ErrorType::InvalidHTTPHeader, OrErr, Result};

use crate::rfc3339;

/// The 429 for a rejection, with a message naming the window and when it frees.
pub fn rejection_error(rejection: &Rejection) -> GatewayError {
    let message = match rejection {
        Rejection::OverLimit { window, metric, limit, used, retry_after } => {
            let frees = match retry_after {
                Some(wait) => format!(
                    "; it frees at {} (in {})",
                    rfc3339_text(SystemTime::now() + *wait),
                    humantime::format_duration(round_up_seconds(*wait))
                ),
                None => "; the cap is zero, so it never frees".to_string(),
            };
            format!(
                "rate limit reached: the {} window of this key allows {} {} and {} are counted{}",
                window_label(*window),
                display_amount(*metric, *limit),
                metric_noun(*metric),
                display_amount(*metric, *used),
                frees
            )
        }
        Rejection::TooManyConcurrent { limit, in_flight } => format!(
            "too many concurrent requests: this key allows {limit} in flight and {in_flight} are running"
        ),
    };
    GatewayError::new(ErrorKind::RateLimited, message)
}

/// Seconds for `retry-after`, rounded up so a client never retries early.
pub fn retry_after_seconds(rejection: &Rejection) -> Option<u64> {
    rejection
        .retry_after()
        .map(|d| round_up_seconds(d).as_secs().max(1))
}

/// How many headers [`headers`] adds for a key with up to four windows: three each for the
/// tightest requests and tokens windows, and one per window. Callers reserve room for them.
pub const LIMIT_HEADERS: usize = 3 * 2 + 4;

/// Adds the limit headers in the caller's convention: Anthropic's or OpenAI's names for the
/// tightest window of requests and of tokens, and one `x-bytespike-ratelimit-<window>` header per
/// window with every capped metric.
///
/// Every response of a key with limits carries about nine of these, so they go straight into the
/// plain header map under prebuilt names, and numbers are written without the formatting
/// machinery.
pub fn headers(map: &mut HeaderMap, dialect: Dialect, windows: &[WindowUsage]) -> Result<()> {
    if windows.is_empty() {
        // A key without limits: nothing to show, and no clock to read for it.
        return Ok(());
    }
    let now = SystemTime::now();
    for metric in [Metric::Requests, Metric::Tokens] {
        let Some(w) = tightest_of(windows, metric) else {
            continue;
        };
        let [limit_name, remaining_name, reset_name] = vendor_header_names(dialect, metric);
        map.insert(limit_name, HeaderValue::from(w.limit.unwrap_or(0)));
        map.insert(remaining_name, HeaderValue::from(w.remaining.unwrap_or(0)));
        let reset = if dialect == Dialect::Anthropic {
            rfc3339_text(w.resets_at)
        } else {
            openai_duration(w.resets_at.duration_since(now).unwrap_or_default())
        };
        map.insert(reset_name, header_value(reset)?);
    }
    let capped = |w: &&WindowUsage| w.limit.is_some();
    for (i, length) in windows.iter().enumerate().filter(|(_, w)| capped(w)) {
        let length = length.window;
        // One header per window length, at its first capped metric.
        if windows[..i]
            .iter()
            .filter(capped)
            .any(|w| w.window == length)
        {
            continue;
        }
        let mut value = String::with_capacity(128);
        let same_window = || windows.iter().filter(move |w| w.window == length);
        for w in same_window() {
            if let (Some(limit), Some(remaining)) = (w.limit, w.remaining) {
                value.push_str(metric_key(w.metric));
                value.push('=');
                push_amount(&mut value, w.metric, remaining);
                value.push('/');
                push_amount(&mut value, w.metric, limit);
                value.push_str("; ");
            }
        }
        if let Some(reset) = same_window().map(|w| w.resets_at).max() {
            value.push_str("reset=");
            rfc3339::push_seconds(&mut value, reset);
        }
        map.insert(window_header_name(length)?, header_value(value)?);
    }
    Ok(())
}

/// Window header names kept at most: keys share a handful of window lengths, and a config that
/// keeps inventing new ones must not grow the process without bound.
const KEPT_WINDOW_NAMES: usize = 64;

/// `x-bytespike-ratelimit-<window>`. Each name is built and parsed once per window length and
/// process rather than on every response (callgrind: 1,200 of the 14,100 instructions the limit
/// headers of three windows cost).
fn window_header_name(length: Duration) -> Result<HeaderName> {
    static NAMES: RwLock<Vec<(Duration, HeaderName)>> = RwLock::new(Vec::new());
    let kept = NAMES.read().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, name)) = kept.iter().find(|(l, _)| *l == length) {
        return Ok(name.clone());
    }
    drop(kept);
    let mut text = String::with_capacity(32);
    text.push_str("x-bytespike-ratelimit-");
    push_window_label(&mut text, length);
    let name = HeaderName::try_from(text)
        .or_err(InvalidHTTPHeader, "window label is not a header name")?;
    let mut kept = NAMES.write().unwrap_or_else(PoisonError::into_inner);
    if kept.len() < KEPT_WINDOW_NAMES && !kept.iter().any(|(l, _)| *l == length) {
        kept.push((length, name.clone()));
    }
    Ok(name)
}

/// Takes the text's own buffer as the value rather than copying it.
fn header_value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).or_err(InvalidHTTPHeader, "limit header value")
}

/// The limit, remaining and reset header names of `metric` in `dialect`'s convention.
fn vendor_header_names(dialect: Dialect, metric: Metric) -> [HeaderName; 3] {
    const fn names(
        limit: &'static str,
        remaining: &'static str,
        reset: &'static str,
    ) -> [HeaderName; 3] {
        [
            HeaderName::from_static(limit),
            HeaderName::from_static(remaining),
            HeaderName::from_static(reset),
        ]
    }
    const ANTHROPIC_REQUESTS: [HeaderName; 3] = names(
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
    );
    const ANTHROPIC_TOKENS: [HeaderName; 3] = names(
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
    );
    const OPENAI_REQUESTS: [HeaderName; 3] = names(
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    );
    const OPENAI_TOKENS: [HeaderName; 3] = names(
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    );
    match (dialect == Dialect::Anthropic, metric == Metric::Requests) {
        (true, true) => ANTHROPIC_REQUESTS,
        (true, false) => ANTHROPIC_TOKENS,
        (false, true) => OPENAI_REQUESTS,
        (false, false) => OPENAI_TOKENS,
    }
}

/// The `/v1/usage` document: per window, each capped metric's use, cap and what is left.
pub fn usage_document(key: &str, windows: &[WindowUsage]) -> Vec<u8> {
    let mut lengths: Vec<Duration> = windows.iter().map(|w| w.window).collect();
    lengths.dedup();
    let entries: Vec<serde_json::Value> = lengths
        .iter()
        .map(|&length| {
            let mut entry = serde_json::Map::new();
            entry.insert("window".into(), window_label(length).into());
            let mut resets_at = SystemTime::UNIX_EPOCH;
            for w in windows.iter().filter(|w| w.window == length) {
                resets_at = resets_at.max(w.resets_at);
                let name = metric_key(w.metric);
                let amount = |v: u64| match w.metric {
                    Metric::CostMicros => serde_json::Value::String(display_amount(w.metric, v)),
                    _ => v.into(),
                };
                entry.insert(
                    name.into(),
                    serde_json::json!({
                        "used": amount(w.used),
                        "limit": w.limit.map(amount),
                        "remaining": w.remaining.map(amount),
                    }),
                );
            }
            entry.insert("resets_at".into(), rfc3339_text(resets_at).into());
            serde_json::Value::Object(entry)
        })
        .collect();
    serde_json::json!({"object": "usage", "key": key, "windows": entries})
        .to_string()
        .into_bytes()
}

/// The window of `metric` with the least budget left.
fn tightest_of(windows: &[WindowUsage], metric: Metric) -> Option<&WindowUsage> {
    windows
        .iter()
        .filter(|w| w.metric == metric && w.limit.is_some())
        .min_by(|a, b| {
            let (fa, fb) = (
                a.remaining_fraction().unwrap_or(1.0),
                b.remaining_fraction().unwrap_or(1.0),
            );
            fa.total_cmp(&fb)
        })
}

/// `5h`, `1d`, `7d`, `90m`: the largest whole unit.
pub fn window_label(window: Duration) -> String {
    let mut label = String::with_capacity(8);
    push_window_label(&mut label, window);
    label
}

fn push_window_label(out: &mut String, window: Duration) {
    let secs = window.as_secs();
    let (count, unit) = [(86_400, 'd'), (3_600, 'h'), (60, 'm')]
        .into_iter()
        .find(|&(size, _)| secs >= size && secs.is_multiple_of(size))
        .map_or((secs, 's'), |(size, unit)| (secs / size, unit));
    out.push_str(itoa::Buffer::new().format(count));
    out.push(unit);
}

/// OpenAI writes resets as Go-style durations: `1s`, `6m0s`, `2h3m4s`.
fn openai_duration(wait: Duration) -> String {
    let secs = round_up_seconds(wait).as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut text = String::with_capacity(16);
    let mut digits = itoa::Buffer::new();
    if h > 0 {
        text.push_str(digits.format(h));
        text.push('h');
    }
    if h > 0 || m > 0 {
        text.push_str(digits.format(m));
        text.push('m');
    }
    text.push_str(digits.format(s));
    text.push('s');
    text
}

/// The same text as the headers' reset times, for messages and documents.
fn rfc3339_text(t: SystemTime) -> String {
    let mut text = String::with_capacity(20);
    rfc3339::push_seconds(&mut text, t);
    text
}

fn round_up_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// The metric's name in headers and documents; cost is shown in dollars there.
fn metric_key(metric: Metric) -> &'static str {
    match metric {
        Metric::CostMicros => "cost_usd",
        other => other.as_str(),
    }
}

fn metric_noun(metric: Metric) -> &'static str {
    match metric {
        Metric::Requests => "requests",
        Metric::Tokens => "tokens",
        Metric::InputTokens => "input tokens",
        Metric::OutputTokens => "output tokens",
        Metric::CostMicros => "USD",
    }
}

/// Amounts as people read them: cost in dollars, the rest as counts.
fn display_amount(metric: Metric, amount: u64) -> String {
    let mut text = String::with_capacity(24);
    push_amount(&mut text, metric, amount);
    text
}

/// [`display_amount`] into `out`: cost as dollars with six decimals (micro-dollars exactly).
fn push_amount(out: &mut String, metric: Metric, amount: u64) {
    let mut digits = itoa::Buffer::new();
    if metric != Metric::CostMicros {
        out.push_str(digits.format(amount));
        return;
    }
    out.push_str(digits.format(amount / 1_000_000));
    out.push('.');
    let fraction = digits.format(amount % 1_000_000);
    out.extend(std::iter::repeat_n('0', 6 - fraction.len()));
    out.push_str(fraction);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_labels_and_reset_durations() {
        assert_eq!(window_label(Duration::from_secs(5 * 3600)), "5h");
        assert_eq!(window_label(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(window_label(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(window_label(Duration::from_secs(45)), "45s");
        assert_eq!(window_label(Duration::from_secs(36 * 3600)), "36h");
        assert_eq!(openai_duration(Duration::from_millis(1500)), "2s");
        assert_eq!(openai_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(openai_duration(Duration::from_secs(7384)), "2h3m4s");
        assert_eq!(openai_duration(Duration::from_secs(7204)), "2h0m4s");
        assert_eq!(openai_duration(Duration::ZERO), "0s");
    }

    #[test]
    fn amounts_show_cost_as_exact_dollars_and_the_rest_as_counts() {
        assert_eq!(display_amount(Metric::CostMicros, 0), "0.000000");
        assert_eq!(display_amount(Metric::CostMicros, 7), "0.000007");
        assert_eq!(display_amount(Metric::CostMicros, 25_000_100), "25.000100");
        assert_eq!(
            display_amount(Metric::CostMicros, 1_234_567_890),
            "1234.567890"
        );
        assert_eq!(display_amount(Metric::Tokens, 1_234_567), "1234567");
        assert_eq!(display_amount(Metric::Requests, 0), "0");
    }

    #[test]
    fn headers_follow_each_vendor_and_list_every_window() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let usage = |window_h: u64, metric: Metric, limit: u64, used: u64| WindowUsage {
            window: Duration::from_secs(window_h * 3600),
            metric,
            used,
            limit: Some(limit),
            remaining: Some(limit - used),
            resets_at: now + Duration::from_secs(window_h * 3600),
        };
        let windows = [
            usage(5, Metric::Requests, 100, 10),
            usage(5, Metric::CostMicros, 2_500_000, 1_000),
            usage(24, Metric::Requests, 1000, 990),
            usage(24, Metric::Tokens, 50_000, 1_000),
        ];
        let mut anthropic = HeaderMap::new();
        headers(&mut anthropic, Dialect::Anthropic, &windows).unwrap();
        // Each named header with its value, or `None` where it must be absent.
        let expect = |h: &HeaderMap, wanted: &[(&str, Option<&str>)]| {
            for &(name, value) in wanted {
                let got = h.get(name).map(|v| v.to_str().unwrap());
                assert_eq!(got, value, "{name}");
            }
        };
        // The 1d window has the least share of requests left (1%).
        expect(
            &anthropic,
            &[
                ("anthropic-ratelimit-requests-limit", Some("1000")),
                ("anthropic-ratelimit-requests-remaining", Some("10")),
                (
                    "anthropic-ratelimit-requests-reset",
                    Some("2026-12-01T00:53:20Z"),
                ),
                ("anthropic-ratelimit-tokens-remaining", Some("49000")),
                ("x-ratelimit-limit-requests", None),
                (
                    "x-bytespike-ratelimit-5h",
                    Some("requests=90/100; cost_usd=2.499000/2.500000; reset=2026-11-30T05:53:20Z"),
                ),
                (
                    "x-bytespike-ratelimit-1d",
                    Some("requests=10/1000; tokens=49000/50000; reset=2026-12-01T00:53:20Z"),
                ),
            ],
        );

        // OpenAI's resets count down from the real clock: the same windows, ending from now.
        let live: Vec<WindowUsage> = windows
            .iter()
            .map(|w| WindowUsage {
                resets_at: SystemTime::now() + w.resets_at.duration_since(now).unwrap(),
                ..*w
            })
            .collect();
        let mut openai = HeaderMap::new();
        headers(&mut openai, Dialect::OpenAiChat, &live).unwrap();
        expect(
            &openai,
            &[
                ("x-ratelimit-limit-requests", Some("1000")),
                ("x-ratelimit-remaining-tokens", Some("49000")),
                ("anthropic-ratelimit-requests-limit", None),
            ],
        );
        // The tightest requests window (1d) ends a day from now, less the test's own run time.
        let reset = openai["x-ratelimit-reset-requests"].to_str().unwrap();
        assert!(reset == "24h0m0s" || reset.starts_with("23h59m"), "{reset}");
        assert!(openai.contains_key("x-bytespike-ratelimit-5h"));
    }

    #[test]
    fn window_header_names_stay_right_past_the_kept_ones() {
        // More distinct lengths than are kept, each asked for twice: kept or not, every name
        // is its own window's.
        for round in 0..2 {
            for minutes in 1..=(KEPT_WINDOW_NAMES as u64 + 6) {
                let length = Duration::from_secs(minutes * 61);
                let name = window_header_name(length).unwrap();
                let wanted = format!("x-bytespike-ratelimit-{}", window_label(length));
                assert_eq!(name.as_str(), wanted, "round {round}");
            }
        }
    }

    #[test]
    fn rejection_names_window_metric_and_wait() {
        let err = rejection_error(&Rejection::OverLimit {
            window: Duration::from_secs(5 * 3600),
            metric: Metric::CostMicros,
            limit: 25_000_000,
            used: 25_000_100,
            retry_after: Some(Duration::from_millis(61_500)),
        });
        assert_eq!(err.kind, ErrorKind::RateLimited);
        assert!(err.message.contains("5h window"), "{}", err.message);
        assert!(err.message.contains("25.000000 USD"), "{}", err.message);
        assert!(err.message.contains("in 1m 2s"), "{}", err.message);
    }

    #[test]
    fn tightest_window_is_the_least_remaining_share() {
        let now = SystemTime::now();
        let usage = |window_h: u64, limit: u64, remaining: u64| WindowUsage {
            window: Duration::from_secs(window_h * 3600),
            metric: Metric::Requests,
            used: limit - remaining,
            limit: Some(limit),
            remaining: Some(remaining),
            resets_at: now,
        };
        let windows = [usage(5, 100, 90), usage(24, 1000, 50), usage(168, 10, 9)];
        assert_eq!(
            tightest_of(&windows, Metric::Requests).unwrap().window,
            Duration::from_secs(24 * 3600)
        );
        assert!(tightest_of(&windows, Metric::Tokens).is_none());
    }
}
