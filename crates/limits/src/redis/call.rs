//! One bounded, observed round trip to Redis, and what its failure means.

use std::time::Instant;

use redis::{Cmd, ErrorKind, RedisError, ScriptInvocation, ServerErrorKind};

use crate::redis::Core;

/// Why a Redis call did not give an answer.
pub(crate) enum CallError {
    /// Redis is unreachable (or refusing service): the failure policy applies.
    Down(String),
    /// Redis answered, but not as the script promises.
    Store(String),
}

impl Core {
    /// Awaits `fut` within the configured timeout and sorts its failure.
    pub(crate) async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, RedisError>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(self.config.timeout, fut).await {
            Ok(result) => result.map_err(classify),
            Err(_) => Err(CallError::Down(format!(
                "no answer within {:?}",
                self.config.timeout
            ))),
        }
    }

    /// Records the outcome of a call in metrics and health.
    pub(crate) fn observe<T>(
        &self,
        op: &'static str,
        started: Instant,
        result: &Result<T, CallError>,
        now_ms: Option<u64>,
    ) {
        self.metrics
            .redis_round_trip(op, started.elapsed(), result.is_ok());
        match result {
            Err(CallError::Down(e)) => {
                tracing::warn!(op, error = %e, "redis unreachable");
                let probe = self.config.probe_interval.as_millis() as u64;
                self.outage.failed(e.clone(), now_ms.unwrap_or(0), probe);
            }
            // A wrong answer still proves Redis is there.
            _ => self.outage.succeeded(),
        }
    }

    /// Runs the script once; `now_ms` of `None` bypasses the probe interval (replays).
    pub(crate) async fn run(
        &self,
        op: &'static str,
        inv: &ScriptInvocation<'_>,
        now_ms: Option<u64>,
    ) -> Result<Vec<i64>, CallError> {
        self.run_eval(op, &Cmd::invoke_script(inv), now_ms).await
    }

    /// Runs an `EVALSHA` of the script once, loading the script if Redis does not know it (a
    /// fresh or flushed Redis); otherwise as [`Core::run`].
    pub(crate) async fn run_eval(
        &self,
        op: &'static str,
        eval: &Cmd,
        now_ms: Option<u64>,
    ) -> Result<Vec<i64>, CallError> {
        if let Some(now) = now_ms {
            if !self.outage.should_try(now) {
                return Err(CallError::Down(
                    "redis unreachable, waiting to probe".into(),
                ));
            }
        }
        let started = Instant::now();
        let result = self
            .bounded(async {
                let mut conn = self.connector.get().await?;
                match eval.query_async::<Vec<i64>>(&mut conn).await {
                    Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                        self.script.load_async(&mut conn).await?;
                        eval.query_async(&mut conn).await
                    }
                    answer => answer,
                }
            })
            .await;
        self.observe(op, started, &result, now_ms);
        result
    }
}

/// Sorts a driver error into "Redis is away" and "Redis misbehaved".
pub(crate) fn classify(e: RedisError) -> CallError {
    let broken_answer = matches!(
        e.kind(),
        ErrorKind::Parse
            | ErrorKind::UnexpectedReturnType
            | ErrorKind::Server(ServerErrorKind::ResponseError | ServerErrorKind::CrossSlot)
    );
    if broken_answer && !e.is_timeout() && !e.is_io_error() {
        CallError::Store(e.to_string())
    } else {
        CallError::Down(e.to_string())
    }
}
