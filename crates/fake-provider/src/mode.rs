//! The server-wide behaviour set through `/_fake/mode`, and how it combines with a request's
//! own directives into what the request will actually get.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::body::Faults;
use crate::directive::Directives;
use crate::record::lock;

/// A behaviour applied to every later vendor request until reset.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mode {
    /// Answer with this status in the vendor's error shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_status: Option<u16>,
    /// Fail only this many requests, then clear `fail_status` (absent: until reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_count: Option<u64>,
    /// Never answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stall: bool,
    /// Wait this long before the response headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Drop the connection after this many stream frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after: Option<usize>,
    /// Stop sending after this many stream frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after: Option<usize>,
    /// Send the vendor's in-stream error after this many stream frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_error_after: Option<usize>,
}

/// The current mode, shared by all connections.
#[derive(Default)]
pub struct ModeState {
    mode: Mutex<Mode>,
}

impl ModeState {
    pub fn set(&self, mode: Mode) {
        *lock(&self.mode) = mode;
    }

    pub fn get(&self) -> Mode {
        lock(&self.mode).clone()
    }

    /// The mode for one request, consuming one of `fail_count` failures.
    pub fn take(&self) -> Mode {
        let mut mode = lock(&self.mode);
        let current = mode.clone();
        if current.fail_status.is_some() {
            match current.fail_count {
                Some(0) => {
                    mode.fail_status = None;
                    mode.fail_count = None;
                    let mut current = current;
                    current.fail_status = None;
                    return current;
                }
                Some(n) if n <= 1 => {
                    mode.fail_status = None;
                    mode.fail_count = None;
                }
                Some(n) => mode.fail_count = Some(n - 1),
                None => {}
            }
        }
        current
    }
}

/// What one request gets: its directives, with the mode filling whatever they leave unset.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    pub error: Option<u16>,
    pub stall: bool,
    pub delay_ms: Option<u64>,
    pub frame_delay_ms: Option<u64>,
    pub faults: Faults,
}

impl Behaviour {
    pub fn new(d: &Directives, mode: &Mode) -> Self {
        Behaviour {
            error: d.error.or(mode.fail_status),
            stall: d.stall || mode.stall,
            delay_ms: d.delay_ms.or(mode.delay_ms),
            frame_delay_ms: d.frame_delay_ms,
            faults: Faults {
                cut_after: d.cut_after.or(mode.cut_after),
                stall_after: d.stall_after.or(mode.stall_after),
                stream_error_after: d.stream_error_after.or(mode.stream_error_after),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_count_runs_out() {
        let state = ModeState::default();
        state.set(Mode {
            fail_status: Some(503),
            fail_count: Some(2),
            delay_ms: Some(5),
            ..Mode::default()
        });
        assert_eq!(state.take().fail_status, Some(503));
        assert_eq!(state.take().fail_status, Some(503));
        let third = state.take();
        assert_eq!((third.fail_status, third.delay_ms), (None, Some(5)));
    }

    #[test]
    fn directives_win_over_mode() {
        let d = Directives::parse("[[error:429]]");
        let mode = Mode {
            fail_status: Some(503),
            cut_after: Some(3),
            ..Mode::default()
        };
        let b = Behaviour::new(&d, &mode);
        assert_eq!((b.error, b.faults.cut_after), (Some(429), Some(3)));
    }
}
