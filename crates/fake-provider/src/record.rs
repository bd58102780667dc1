//! The bounded log of received requests and the traffic counters behind `/_fake/*`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// How many requests the log keeps; older ones are dropped so long runs stay bounded.
pub const LOG_CAPACITY: usize = 10_000;

/// Received requests, newest last.
#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<VecDeque<Value>>,
}

impl RequestLog {
    /// Appends one request, evicting the oldest past [`LOG_CAPACITY`].
    pub fn push(&self, parts: &http::request::Parts, body: &[u8]) {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &parts.headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        let body = serde_json::from_slice::<Value>(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
        let entry = json!({
            "method": parts.method.as_str(),
            "path": path,
            "version": format!("{:?}", parts.version),
            "headers": headers,
            "body": body,
            "received_at_ms": now_ms(),
        });
        let mut entries = lock(&self.entries);
        if entries.len() >= LOG_CAPACITY {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// All kept requests as a JSON array.
    pub fn to_json(&self) -> Value {
        Value::Array(lock(&self.entries).iter().cloned().collect())
    }

    pub fn clear(&self) {
        lock(&self.entries).clear();
    }
}

/// A poisoned lock only means another request panicked; the data is still usable.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Traffic counters reported by `GET /_fake/stats`.
#[derive(Default)]
pub struct Stats {
    pub requests_total: AtomicU64,
    pub streams_started: AtomicU64,
    pub streams_completed: AtomicU64,
    pub client_disconnects: AtomicU64,
    pub open_connections: AtomicI64,
}

impl Stats {
    pub fn to_json(&self) -> Value {
        json!({
            "requests_total": self.requests_total.load(Ordering::Relaxed),
            "streams_started": self.streams_started.load(Ordering::Relaxed),
            "streams_completed": self.streams_completed.load(Ordering::Relaxed),
            "client_disconnects": self.client_disconnects.load(Ordering::Relaxed),
            "open_connections": self.open_connections.load(Ordering::Relaxed),
        })
    }

    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a client disconnect if dropped while armed: it lives in the request future and then
/// in the response body, so dropping either before the body ends means the client went away.
pub struct DisconnectGuard {
    stats: Arc<Stats>,
    armed: bool,
}

impl DisconnectGuard {
    pub fn new(stats: Arc<Stats>) -> Self {
        DisconnectGuard { stats, armed: true }
    }

    /// The response finished, or the server ended it on purpose.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if self.armed {
            Stats::bump(&self.stats.client_disconnects);
        }
    }
}

/// Keeps `open_connections` in step with live connection tasks.
pub struct ConnectionGuard(pub Arc<Stats>);

impl ConnectionGuard {
    pub fn new(stats: Arc<Stats>) -> Self {
        stats.open_connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard(stats)
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}
