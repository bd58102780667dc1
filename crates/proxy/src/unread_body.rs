//! Reading what is left of a refused request's body, so that its client sees the refusal.
//!
//! A request refused before its body was read whole (a body over the limit, a bad key) leaves
//! its HTTP/1 client still sending. Closing the connection with those bytes unread makes the
//! kernel reset it, and the client, blocked in its send, reports a broken pipe or a reset
//! instead of the 413 or 401 it was sent. As nginx's lingering close does, the gateway reads
//! and discards the rest before the connection closes, within bounds.

use pingora_proxy::Session;
use std::time::Duration;
use tokio::time::Instant;

/// Most bytes discarded after a refusal, as a multiple of the body limit: a refused request
/// costs about what an accepted one could, never more.
const DISCARD_LIMIT_FACTOR: usize = 2;

/// Longest time spent discarding, however fast or slow the client sends.
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// Reads and drops the rest of the request body: at most `max_body` times
/// [`DISCARD_LIMIT_FACTOR`] bytes, for at most [`DISCARD_TIME`], giving up after `idle` without
/// a byte.
pub(crate) async fn discard(session: &mut Session, max_body: usize, idle: Duration) {
    // HTTP/2 ends just the stream; a client waiting for `100 Continue` sends nothing more.
    if session.is_http2() || expects_continue(session) || session.is_body_done() {
        return;
    }
    let limit = max_body.saturating_mul(DISCARD_LIMIT_FACTOR);
    let deadline = Instant::now() + DISCARD_TIME;
    let mut discarded = 0;
    while discarded <= limit {
        let until = deadline.min(Instant::now() + idle);
        match tokio::time::timeout_at(until, session.read_request_body()).await {
            Ok(Ok(Some(chunk))) => discarded += chunk.len(),
            _ => break,
        }
    }
}

fn expects_continue(session: &Session) -> bool {
    session
        .get_header("expect")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}
