//! Settlements and releases sent to Redis in batches: one pipeline (one write, one read) for
//! whatever queued up while the previous batch was on the wire, instead of a round trip each.
//!
//! Under load, batches form on their own while the previous one is on the wire. A write that
//! finds no other in flight waits up to the configured linger for company, so that a steady
//! trickle of requests also shares calls; with no linger it goes out directly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{Cmd, ErrorKind, RedisResult, ScriptInvocation, ServerErrorKind};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::LimiterMetrics;
use crate::redis::call::{classify, CallError};
use crate::redis::connection::{Conn, Connector};
use crate::redis::script::{self, SettleCall};
use crate::redis::Core;

/// Most writes in one pipeline: big enough to absorb a burst, small enough that one batch's
/// Redis time stays far below the call timeout.
pub(crate) const BATCH_CAP: usize = 128;

/// One queued script call and where its own answer goes.
struct Job {
    work: Work,
    /// The key's hash tag: on a cluster only commands of one slot may share a pipeline.
    tag: String,
    reply: Reply,
}

/// Where one job's answer goes.
type Reply = oneshot::Sender<RedisResult<Vec<i64>>>;

/// What a job asks Redis to do.
enum Work {
    /// A script call, ready to send.
    Script(Cmd),
    /// A settlement, sent joined with the others of its key in the same pipeline; its command
    /// is built only then, once for all of them.
    Settle(Arc<SettleCall>),
}

/// The queue in front of the writer task.
pub(crate) struct Batcher {
    queue: mpsc::UnboundedSender<Job>,
}

/// What the writer needs besides the jobs.
struct Writer {
    connector: Arc<Connector>,
    timeout: Duration,
    /// How long a batch of one waits for company before it is sent.
    linger: Duration,
    metrics: Arc<dyn LimiterMetrics>,
    /// SHA of the limiter script, for joined settlements (a pipeline cannot load it: a member
    /// that meets NOSCRIPT is retried alone, which loads it).
    script_hash: String,
}

impl Batcher {
    /// Starts the writer on `runtime`; it ends when the batcher is dropped.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        connector: Arc<Connector>,
        timeout: Duration,
        linger: Duration,
        metrics: Arc<dyn LimiterMetrics>,
        script_hash: String,
    ) -> Self {
        let (queue, jobs) = mpsc::unbounded_channel();
        let writer = Arc::new(Writer {
            connector,
            timeout,
            linger,
            metrics,
            script_hash,
        });
        runtime.spawn(write(jobs, writer));
        Self { queue }
    }
}

/// Drains the queue batch by batch; one batch in flight at a time is what lets the next fill.
async fn write(mut jobs: mpsc::UnboundedReceiver<Job>, writer: Arc<Writer>) {
    let timeout = writer.timeout;
    let mut batch = Vec::with_capacity(BATCH_CAP);
    while jobs.recv_many(&mut batch, BATCH_CAP).await > 0 {
        // A batch that formed while the previous one was on the wire goes at once; only a lone
        // write waits, and only as long as the linger.
        if batch.len() == 1 && !writer.linger.is_zero() {
            gather(&mut jobs, &mut batch, writer.linger).await;
        }
        let conn = match tokio::time::timeout(timeout, writer.connector.get()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                fail_all(batch.drain(..), || e.to_string());
                continue;
            }
            Err(_) => {
                fail_all(batch.drain(..), || {
                    format!("no connection within {timeout:?}")
                });
                continue;
            }
        };
        if matches!(conn, Conn::Cluster(_)) {
            let mut groups: HashMap<String, Vec<Job>> = HashMap::new();
            for job in batch.drain(..) {
                groups.entry(job.tag.clone()).or_default().push(job);
            }
            let mut sends = tokio::task::JoinSet::new();
            for group in groups.into_values() {
                sends.spawn(send(conn.clone(), group, writer.clone()));
            }
            while sends.join_next().await.is_some() {}
        } else {
            send(conn, std::mem::take(&mut batch), writer.clone()).await;
        }
    }
}

/// Adds to `batch` what arrives within `linger`, stopping early once it is full or the queue
/// has closed.
async fn gather(jobs: &mut mpsc::UnboundedReceiver<Job>, batch: &mut Vec<Job>, linger: Duration) {
    let deadline = tokio::time::Instant::now() + linger;
    while batch.len() < BATCH_CAP {
        let room = BATCH_CAP - batch.len();
        match tokio::time::timeout_at(deadline, jobs.recv_many(batch, room)).await {
            Ok(received) if received > 0 => {}
            _ => break,
        }
    }
}

fn fail_all(jobs: impl Iterator<Item = Job>, error: impl Fn() -> String) {
    fail_replies(jobs.map(|job| job.reply), error);
}

fn fail_replies(replies: impl Iterator<Item = Reply>, error: impl Fn() -> String) {
    for reply in replies {
        let e = redis::RedisError::from((ErrorKind::Io, "redis unreachable", error()));
        let _ = reply.send(Err(e));
    }
}

/// Sends one pipeline and hands each member its own reply; a failure of the whole exchange
/// (timeout, lost connection) fails every member, which then defers on its own. Settlements of
/// one key travel as one joined call.
async fn send(mut conn: Conn, jobs: Vec<Job>, writer: Arc<Writer>) {
    writer.metrics.redis_batch(jobs.len());
    let (cmds, answers): (Vec<Cmd>, Vec<Vec<Reply>>) = join_settlements(jobs, &writer.script_hash)
        .into_iter()
        .unzip();
    let mut pipe = redis::pipe();
    // Each member's error is its own: one rejected call must not fail its neighbours.
    pipe.ignore_errors();
    for cmd in cmds {
        pipe.add_command(cmd);
    }
    let timeout = writer.timeout;
    let result = tokio::time::timeout(
        timeout,
        pipe.query_async::<Vec<RedisResult<Vec<i64>>>>(&mut conn),
    )
    .await;
    let all = answers.into_iter();
    match result {
        Ok(Ok(replies)) if replies.len() == all.len() => {
            for (members, reply) in all.zip(replies) {
                answer(members, reply);
            }
        }
        Ok(Ok(replies)) => {
            let n = replies.len();
            fail_replies(all.flatten(), || format!("pipeline answered {n} replies"));
        }
        Ok(Err(e)) => fail_replies(all.flatten(), || e.to_string()),
        Err(_) => fail_replies(all.flatten(), || format!("no answer within {timeout:?}")),
    }
}

/// The pipeline's commands, each with the replies it answers: settlements of one key joined
/// into one call, everything else as it came.
fn join_settlements(jobs: Vec<Job>, script_hash: &str) -> Vec<(Cmd, Vec<Reply>)> {
    let mut entries: Vec<(Cmd, Vec<Reply>)> = Vec::with_capacity(jobs.len());
    let mut by_key: HashMap<String, (Vec<Arc<SettleCall>>, Vec<Reply>)> = HashMap::new();
    for Job { work, tag, reply } in jobs {
        match work {
            Work::Script(cmd) => entries.push((cmd, vec![reply])),
            Work::Settle(call) => {
                let (calls, replies) = by_key.entry(tag).or_default();
                calls.push(call);
                replies.push(reply);
            }
        }
    }
    for (calls, replies) in by_key.into_values() {
        let calls: Vec<&SettleCall> = calls.iter().map(|c| c.as_ref()).collect();
        entries.push((script::joined_settle(script_hash, &calls), replies));
    }
    entries
}

/// Hands out one pipeline reply: a lone job's as it is, a joined call's one value per member.
fn answer(members: Vec<Reply>, reply: RedisResult<Vec<i64>>) {
    if members.len() == 1 {
        if let Some(member) = members.into_iter().next() {
            let _ = member.send(reply);
        }
        return;
    }
    match reply {
        Ok(values) if values.len() == members.len() => {
            for (member, value) in members.into_iter().zip(values) {
                let _ = member.send(Ok(vec![value]));
            }
        }
        Ok(values) => {
            let (n, expected) = (values.len(), members.len());
            fail_replies(members.into_iter(), || {
                format!("joined settlement answered {n} values for {expected}")
            });
        }
        Err(e) => {
            for member in members {
                let _ = member.send(Err(e.clone()));
            }
        }
    }
}

/// Counts a live write while it runs, also when its caller gives up on it.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    alone: bool,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let before = count.fetch_add(1, Ordering::AcqRel);
        Self {
            count,
            alone: before == 0,
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Core {
    /// Runs the script through the batch writer; same contract as [`Core::run`].
    pub(crate) async fn run_batched(
        &self,
        op: &'static str,
        write: Batched<'_, '_>,
        tag: String,
        now_ms: u64,
    ) -> Result<Vec<i64>, CallError> {
        if !self.outage.should_try(now_ms) {
            return Err(CallError::Down(
                "redis unreachable, waiting to probe".into(),
            ));
        }
        let _in_flight = InFlight::enter(&self.writes_in_flight);
        if _in_flight.alone && self.config.settle_linger.is_zero() {
            // Nothing to share a pipeline with, and no waiting for company: the direct call
            // spares the hop to the writer task.
            return self.run_direct(op, &write, now_ms).await;
        }
        let started = Instant::now();
        let (reply, answer) = oneshot::channel();
        let work = match &write {
            Batched::Script(inv) => Work::Script(Cmd::invoke_script(inv)),
            Batched::Settle(call) => Work::Settle(call.clone()),
        };
        let job = Job { work, tag, reply };
        // Started on first use, so it reports to the metrics the limiter was finally given, and
        // on the runtime of that use (the proxy's, which settles): the writer then runs on the
        // threads that feed it and that its answers wake, not on one more that each batch would
        // wake and switch to.
        let batcher = self.batcher.get_or_init(|| {
            Batcher::start(
                &tokio::runtime::Handle::current(),
                self.connector.clone(),
                self.config.timeout,
                self.config.settle_linger,
                self.metrics.clone(),
                self.script.get_hash().to_string(),
            )
        });
        let answer = match batcher.queue.send(job) {
            Ok(()) => answer.await.ok(),
            Err(_) => None,
        };
        let result = match answer {
            Some(Ok(reply)) => Ok(reply),
            // A pipeline does not load the script: the direct call loads it and retries.
            Some(Err(e)) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                return self.run_direct(op, &write, now_ms).await;
            }
            Some(Err(e)) => Err(classify(e)),
            // The writer stopped with the runtime it ran on. The write goes alone instead:
            // settlements and releases are idempotent, so one the writer did send before it
            // stopped is not counted twice.
            None => return self.run_direct(op, &write, now_ms).await,
        };
        self.observe(op, started, &result, Some(now_ms));
        result
    }

    async fn run_direct(
        &self,
        op: &'static str,
        write: &Batched<'_, '_>,
        now_ms: u64,
    ) -> Result<Vec<i64>, CallError> {
        match write {
            Batched::Script(inv) => self.run(op, inv, Some(now_ms)).await,
            Batched::Settle(call) => {
                let eval = call.lone(self.script.get_hash());
                self.run_eval(op, &eval, Some(now_ms)).await
            }
        }
    }
}

/// A live write for the batch writer.
pub(crate) enum Batched<'i, 'a> {
    /// A script call as it is.
    Script(&'i ScriptInvocation<'a>),
    /// A settlement, which may be joined with others of its key; the invocation of it alone is
    /// built only if it goes alone.
    Settle(Arc<SettleCall>),
}
