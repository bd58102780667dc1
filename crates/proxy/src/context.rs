//! Per-request state shared by the proxy phases.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use bytespike_config::snapshot::{KeyEntry, Route, Target};
use bytespike_limits::{Reservation, WindowUsage};
use bytespike_protocol::hidden_usage::HiddenUsageFilter;
use bytespike_protocol::{Dialect, Endpoint, GatewayError, RequestEnvelope, Usage, UsageScanner};
use bytespike_translate::ResponseTranslator;

use crate::deadline::Deadline;

/// How the response of a routed request is handled. One per request, created once and never
/// moved, so the size difference between variants costs nothing that boxing would save.
#[allow(clippy::large_enum_variant)]
pub enum Handling {
    /// Same protocol both sides: bytes flow untouched while usage is scanned.
    Passthrough {
        /// Reads usage from the response as it flows.
        scanner: UsageScanner,
        /// Set when the gateway asked an OpenAI upstream for stream usage the client did not.
        hide_usage: Option<HiddenUsageFilter>,
    },
    /// Different protocols: every response byte goes through a translator.
    Translated {
        /// The upstream's dialect.
        upstream: Dialect,
        /// Turns upstream bytes into the client's protocol, event by event.
        translator: Box<ResponseTranslator>,
        /// An upstream error body, collected to be re-shaped once complete.
        error_body: Vec<u8>,
    },
}

/// Everything one request carries from phase to phase.
pub struct RequestCtx {
    /// The gateway's id for this request, sent back as `x-request-id`.
    pub request_id: String,
    /// When the request arrived.
    pub started: Instant,
    /// When the gateway's own refusal was sent, if it refused the request before the client
    /// had sent its body: the request's duration ends there, not after the rest is read.
    pub refused_at: Option<Instant>,
    /// The route the request matched.
    pub endpoint: Option<Endpoint>,
    /// The authenticated key.
    pub key: Option<Arc<KeyEntry>>,
    /// The model the client asked for.
    pub requested_model: Option<String>,
    /// The resolved model and its targets.
    pub route: Option<Route>,
    /// The target being tried.
    pub target: Option<Target>,
    /// Positions in the route's attempt order, in the order this request tries them (ejected
    /// targets last).
    pub order: Vec<usize>,
    /// Index in `order` of the target being tried.
    pub attempt: usize,
    /// When the current attempt must be over: its start plus the provider's `total` timeout.
    pub attempt_deadline: Option<Deadline>,
    /// Targets given up on before the one serving the request.
    pub failovers: u32,
    /// The request body as the client sent it, kept to prepare each attempt.
    pub client_body: Bytes,
    /// The fields of the body the gateway acts on.
    pub envelope: Option<RequestEnvelope>,
    /// The body to send upstream, ready-made before the upstream is chosen.
    pub upstream_body: Bytes,
    /// Path (and query) of the upstream request.
    pub upstream_path: String,
    /// Headers a translated request needs upstream (e.g. a beta flag for a feature it uses).
    pub upstream_headers: Vec<(&'static str, String)>,
    /// The client asked for a stream.
    pub stream: bool,
    /// How the response is handled.
    pub handling: Option<Handling>,
    /// Upstream response status.
    pub upstream_status: Option<u16>,
    /// When the first response body byte went to the client.
    pub first_byte: Option<Instant>,
    /// An error the gateway answered with, for logs and metrics.
    pub error: Option<GatewayError>,
    /// Usage of the finished request.
    pub usage: Option<Usage>,
    /// What the limiter holds for this request once admitted: a reservation to settle or
    /// release when it ends, or nothing (a key without limits the limiter does not track).
    pub budget: Option<Budget>,
    /// The key's limit windows, for the response's limit headers.
    pub windows: Vec<WindowUsage>,
    /// Seconds until a rejected request can succeed, for `retry-after`.
    pub retry_after: Option<u64>,
    /// Wall-clock arrival time, for the usage ledger.
    pub arrived: SystemTime,
    /// Gauges this request raised, to lower exactly those when it ends.
    pub gauges: Gauges,
}

/// What the limiter holds for an admitted request.
pub enum Budget {
    /// A reservation, settled or released when the request ends.
    Held(Reservation),
    /// Nothing: the key has no limits and the limiter keeps nothing for such a request; it is
    /// only told how the request ended.
    Untracked,
}

/// Which gauges a request is counted in.
#[derive(Debug, Default, Clone, Copy)]
pub struct Gauges {
    /// Counted in requests in flight.
    pub in_flight: bool,
    /// Counted in active streams.
    pub stream: bool,
}

impl RequestCtx {
    /// State for a request that just arrived.
    pub fn new() -> Self {
        RequestCtx {
            request_id: new_request_id(),
            started: Instant::now(),
            refused_at: None,
            endpoint: None,
            key: None,
            requested_model: None,
            route: None,
            target: None,
            order: Vec::new(),
            attempt: 0,
            attempt_deadline: None,
            failovers: 0,
            client_body: Bytes::new(),
            envelope: None,
            upstream_body: Bytes::new(),
            upstream_path: String::new(),
            upstream_headers: Vec::new(),
            stream: false,
            handling: None,
            upstream_status: None,
            first_byte: None,
            error: None,
            usage: None,
            budget: None,
            windows: Vec::new(),
            retry_after: None,
            arrived: SystemTime::now(),
            gauges: Gauges::default(),
        }
    }

    /// Drops the request body and its upstream form once no other attempt can follow (the
    /// client has begun to receive this one's answer): a long stream of a large request
    /// would otherwise hold both until it ends.
    pub fn release_request_bodies(&mut self) {
        self.client_body = Bytes::new();
        self.upstream_body = Bytes::new();
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}

/// `req_` and 24 random hex digits: unique enough to find one request in the logs. Written
/// digit by digit: `format!` costs several times as much, once per request.
fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let random = (u128::from(fastrand::u64(..)) << 32) | u128::from(fastrand::u32(..));
    let mut id = String::with_capacity(28);
    id.push_str("req_");
    for shift in (0..24).rev() {
        id.push(HEX[((random >> (shift * 4)) & 0xf) as usize] as char);
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_24_lowercase_hex_digits_and_differ() {
        let ids: Vec<String> = (0..64).map(|_| new_request_id()).collect();
        for id in &ids {
            let digits = id.strip_prefix("req_").expect("prefix");
            assert_eq!(digits.len(), 24, "{id}");
            assert!(
                digits
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        // Every digit position varies: none is stuck at a constant.
        for position in 4..28 {
            let seen: std::collections::HashSet<u8> =
                ids.iter().map(|id| id.as_bytes()[position]).collect();
            assert!(seen.len() > 1, "digit {position} never changes");
        }
    }
}
