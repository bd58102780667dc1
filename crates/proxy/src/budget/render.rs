//! Limits as callers see them: response headers in each vendor's convention, the 429 message,
//! and the `/v1/usage` document.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use bytespike_limits::{Metric, Rejection, WindowUsage};
use bytespike_protocol::{Dialect, ErrorKind, GatewayError};
use pingora_error::Result;
use pingora_http::ResponseHeader;

/// The 429 for a rejection, with a message naming the window and when it frees.
pub fn rejection_error(rejection: &Rejection) -> GatewayError {
    let message = match rejection {
        Rejection::OverLimit { window, metric, limit, used, retry_after } => {
            let frees = match retry_after {
                Some(wait) => format!(
                    "; it frees at {} (in {})",
                    humantime::format_rfc3339_seconds(SystemTime::now() + *wait),
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

/// Adds the limit headers in the caller's convention: Anthropic's or OpenAI's names for the
/// tightest window of requests and of tokens, and one `x-bytespike-ratelimit-<window>` header per
/// window with every capped metric.
pub fn headers(
    header: &mut ResponseHeader,
    dialect: Dialect,
    windows: &[WindowUsage],
) -> Result<()> {
    for (metric, noun) in [(Metric::Requests, "requests"), (Metric::Tokens, "tokens")] {
        let Some(w) = tightest_of(windows, metric) else {
            continue;
        };
        let (limit, remaining) = (w.limit.unwrap_or(0), w.remaining.unwrap_or(0));
        let reset = w.resets_at;
        if dialect == Dialect::Anthropic {
            header.insert_header(
                format!("anthropic-ratelimit-{noun}-limit"),
                limit.to_string(),
            )?;
            header.insert_header(
                format!("anthropic-ratelimit-{noun}-remaining"),
                remaining.to_string(),
            )?;
            header.insert_header(
                format!("anthropic-ratelimit-{noun}-reset"),
                humantime::format_rfc3339_seconds(reset).to_string(),
            )?;
        } else {
            let wait = reset.duration_since(SystemTime::now()).unwrap_or_default();
            header.insert_header(format!("x-ratelimit-limit-{noun}"), limit.to_string())?;
            header.insert_header(
                format!("x-ratelimit-remaining-{noun}"),
                remaining.to_string(),
            )?;
            header.insert_header(format!("x-ratelimit-reset-{noun}"), openai_duration(wait))?;
        }
    }
    let mut lengths: Vec<Duration> = windows
        .iter()
        .filter(|w| w.limit.is_some())
        .map(|w| w.window)
        .collect();
    lengths.dedup();
    for length in lengths {
        let mut value = String::new();
        for w in windows.iter().filter(|w| w.window == length) {
            if let (Some(limit), Some(remaining)) = (w.limit, w.remaining) {
                let _ = write!(
                    value,
                    "{}={}/{}; ",
                    metric_key(w.metric),
                    display_amount(w.metric, remaining),
                    display_amount(w.metric, limit)
                );
            }
        }
        if let Some(reset) = windows
            .iter()
            .filter(|w| w.window == length)
            .map(|w| w.resets_at)
            .max()
        {
            let _ = write!(value, "reset={}", humantime::format_rfc3339_seconds(reset));
        }
        header.insert_header(
            format!("x-bytespike-ratelimit-{}", window_label(length)),
            value,
        )?;
    }
    Ok(())
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
            entry.insert(
                "resets_at".into(),
                humantime::format_rfc3339_seconds(resets_at)
                    .to_string()
                    .into(),
            );
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
    let secs = window.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// OpenAI writes resets as Go-style durations: `1s`, `6m0s`, `2h3m4s`.
fn openai_duration(wait: Duration) -> String {
    let secs = round_up_seconds(wait).as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
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
    match metric {
        Metric::CostMicros => format!("{}.{:06}", amount / 1_000_000, amount % 1_000_000),
        _ => amount.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_labels_and_reset_durations() {
        assert_eq!(window_label(Duration::from_secs(5 * 3600)), "5h");
        assert_eq!(window_label(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(window_label(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(openai_duration(Duration::from_millis(1500)), "2s");
        assert_eq!(openai_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(openai_duration(Duration::from_secs(7384)), "2h3m4s");
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
