//! The Lua script's key layout, arguments and replies, on the Rust side.

use std::time::Duration;

use redis::{Arg, Cmd, Script, ScriptInvocation};

use crate::admission::Rejection;
use crate::error::LimitError;
use crate::ledger::{FieldValue, LedgerRecord};
use crate::limits::{KeyId, KeyLimits, Metric};
use crate::memory::WindowSums;
use crate::usage::Amounts;

/// The one script every operation runs, loaded by SHA and reloaded on NOSCRIPT. It opens
/// with the ledger's field names, from the one list the Rust side reads records by.
pub(crate) fn script() -> Script {
    Script::new(&script_source())
}

fn script_source() -> String {
    let mut source = String::from("local LEDGER_FIELDS = {");
    for name in LedgerRecord::FIELD_NAMES {
        source.push_str(" '");
        source.push_str(name);
        source.push_str("',");
    }
    source.push_str(" }\n");
    source.push_str(include_str!("limiter.lua"));
    source
}

/// Where the ledger records go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerStreams {
    /// One stream for all keys (standalone Redis only: on a cluster it lives in another slot).
    Single(String),
    /// One stream per key, named `<prefix>:{bsg:<namespace>/<name>}`, in the key's own slot.
    PerKey(String),
    /// No ledger.
    Off,
}

/// Names of every Redis key of one API key; all share the hash tag `{bsg:<namespace>/<name>}`.
pub(crate) struct KeyNames {
    tag: String,
}

impl KeyNames {
    // Names are built with `push_str` rather than `format!`: a settlement needs about ten of
    // them per request, and the formatting machinery cost more than the rest of the call's setup.
    pub(crate) fn new(key: &KeyId) -> Self {
        let mut tag = String::with_capacity(key.namespace.len() + key.name.len() + 7);
        tag.push_str("{bsg:");
        push_clean(&mut tag, &key.namespace);
        tag.push('/');
        push_clean(&mut tag, &key.name);
        tag.push('}');
        Self { tag }
    }

    /// The hash tag, which names the key's cluster slot.
    pub(crate) fn tag(&self) -> &str {
        &self.tag
    }

    pub(crate) fn window_prefix(&self) -> String {
        self.suffixed(":w:")
    }

    /// The tag followed by `suffix`, with room for what callers append (a window length or a
    /// request id, 28 bytes) without growing.
    fn suffixed(&self, suffix: &str) -> String {
        let mut name = String::with_capacity(self.tag.len() + suffix.len() + 32);
        name.push_str(&self.tag);
        name.push_str(suffix);
        name
    }

    fn ledger(&self, streams: &LedgerStreams) -> String {
        match streams {
            LedgerStreams::Single(name) => name.clone(),
            LedgerStreams::PerKey(prefix) => {
                let mut name = String::with_capacity(prefix.len() + 1 + self.tag.len());
                name.push_str(prefix);
                name.push(':');
                name.push_str(&self.tag);
                name
            }
            // Never written; still named in the key's slot so a cluster accepts the call.
            LedgerStreams::Off => self.suffixed(":ledger"),
        }
    }

    /// Starts an invocation with the fixed keys and the first three arguments.
    pub(crate) fn invocation<'a>(
        &self,
        script: &'a Script,
        op: &str,
        now_ms: u64,
        request_id: &str,
        ledger: &LedgerStreams,
    ) -> ScriptInvocation<'a> {
        let mut inv = script.prepare_invoke();
        for key in self.fixed_keys(request_id, ledger) {
            inv.key(key);
        }
        inv.arg(op).arg(now_ms).arg(self.window_prefix());
        inv
    }

    /// KEYS[1..4] of every op: reservations, expiry, the request's settled marker, ledger.
    fn fixed_keys(&self, request_id: &str, ledger: &LedgerStreams) -> [String; 4] {
        let mut done = self.suffixed(":done:");
        done.push_str(request_id);
        [
            self.suffixed(":res"),
            self.suffixed(":exp"),
            done,
            self.ledger(ledger),
        ]
    }

    pub(crate) fn window_key(&self, window_ms: u64) -> String {
        let mut name = self.window_prefix();
        name.push_str(itoa::Buffer::new().format(window_ms));
        name
    }
}

/// Kubernetes names cannot hold braces; replacing them keeps the hash tag intact anyway.
fn push_clean(out: &mut String, part: &str) {
    out.extend(
        part.chars()
            .map(|c| if matches!(c, '{' | '}') { '_' } else { c }),
    );
}

/// Arguments of an admission or a usage read.
pub(crate) struct CheckArgs<'a> {
    pub reserve: bool,
    pub limits: &'a KeyLimits,
    pub request_id: &'a str,
    pub estimated: u64,
    pub now_ms: u64,
    pub reservation_ttl_ms: u64,
    /// The lease to grow along with the admission.
    pub lease: Option<LeaseAsk<'a>>,
}

/// A lease to grant or grow in the same atomic step as an admission.
pub(crate) struct LeaseAsk<'a> {
    pub id: &'a str,
    pub slots: u64,
    pub must_exist: bool,
    pub ttl_ms: u64,
    pub max_slots: u64,
    pub divisor: u64,
    pub min_slots: u64,
}

/// Appends each window's length and caps, the layout every op that checks caps reads.
pub(crate) fn window_args(inv: &mut ScriptInvocation<'_>, names: &KeyNames, limits: &KeyLimits) {
    inv.arg(limits.windows.len());
    for w in &limits.windows {
        let window_ms = w.window.as_millis() as u64;
        inv.key(names.window_key(window_ms)).arg(window_ms);
        for cap in w.caps() {
            inv.arg(cap.map_or(-1, |c| i64::try_from(c).unwrap_or(i64::MAX)));
        }
    }
}

pub(crate) fn check<'a>(
    script: &'a Script,
    names: &KeyNames,
    ledger: &LedgerStreams,
    a: &CheckArgs<'_>,
) -> ScriptInvocation<'a> {
    let op = if a.reserve { "admit" } else { "usage" };
    let mut inv = names.invocation(script, op, a.now_ms, a.request_id, ledger);
    inv.arg(a.reservation_ttl_ms)
        .arg(a.limits.max_concurrent.map_or(-1, i64::from))
        .arg(a.request_id)
        .arg(a.estimated);
    window_args(&mut inv, names, a.limits);
    match &a.lease {
        Some(l) => inv
            .arg(l.id)
            .arg(l.slots)
            .arg(u8::from(l.must_exist))
            .arg(l.ttl_ms)
            .arg(l.max_slots)
            .arg(l.divisor)
            .arg(l.min_slots),
        None => inv.arg("").arg(0).arg(0).arg(0).arg(0).arg(0).arg(0),
    };
    inv
}

/// Arguments of a settlement.
pub(crate) struct SettleArgs<'a> {
    pub request_id: &'a str,
    pub admitted_at_ms: u64,
    pub windows_ms: &'a [u64],
    pub amounts: &'a Amounts,
    pub now_ms: u64,
    pub marker_ttl_ms: u64,
    pub ledger_maxlen: u64,
    pub record: &'a LedgerRecord,
    /// The lease the request was carved from, and its estimate, which the lease stops holding.
    pub lease: Option<&'a str>,
    pub estimated: u64,
}

/// One settlement's script input, kept in parts so that the batch writer can join the
/// settlements of one key into one call (`settle_many`), which stages their window changes and
/// writes each changed field once.
pub(crate) struct SettleCall {
    /// The key's hash tag: only settlements of one key (one cluster slot) are joined.
    pub tag: String,
    /// KEYS of a lone settlement: reservations, expiry, its marker, ledger, then windows.
    pub keys: Vec<String>,
    pub now_ms: u64,
    /// The key's window key prefix (ARGV[3]).
    pub window_prefix: String,
    /// The settlement's own arguments: ARGV[4..] of a lone one, one item of a joined one.
    /// Kept in a command's buffer: one allocation for them all, numbers written in place.
    item: Cmd,
}

/// KEYS before the windows in a lone settlement; the marker is the third.
const SETTLE_FIXED_KEYS: usize = 4;

/// A settlement's own arguments with three windows and its ledger record's 16 values, and
/// their usual size in bytes.
const SETTLE_ITEM_ARGS_HINT: usize = 32;
const SETTLE_ITEM_BYTES_HINT: usize = 320;

impl SettleCall {
    pub(crate) fn new(names: &KeyNames, ledger: &LedgerStreams, a: &SettleArgs<'_>) -> Self {
        let maxlen = if *ledger == LedgerStreams::Off {
            0
        } else {
            a.ledger_maxlen
        };
        let mut keys = Vec::with_capacity(SETTLE_FIXED_KEYS + a.windows_ms.len());
        keys.extend(names.fixed_keys(a.request_id, ledger));
        keys.extend(a.windows_ms.iter().map(|w| names.window_key(*w)));
        // Sized for the usual settlement with its ledger record, so the buffers do not grow
        // argument by argument.
        let mut item = Cmd::with_capacity(SETTLE_ITEM_ARGS_HINT, SETTLE_ITEM_BYTES_HINT);
        item.arg(a.marker_ttl_ms.max(1))
            .arg(a.request_id)
            .arg(a.admitted_at_ms)
            .arg(&a.amounts[..])
            .arg(maxlen)
            .arg(a.lease.unwrap_or(""))
            .arg(a.estimated)
            .arg(a.windows_ms.len())
            .arg(a.windows_ms);
        if maxlen > 0 {
            a.record.write_values(|value| {
                match value {
                    FieldValue::Text(text) => item.arg(text),
                    FieldValue::Number(n) => item.arg(n),
                };
            });
        }
        Self {
            tag: names.tag().to_string(),
            keys,
            now_ms: a.now_ms,
            window_prefix: names.window_prefix(),
            item,
        }
    }

    /// The settlement's own arguments, in order.
    fn item_args(&self) -> impl Iterator<Item = &[u8]> {
        self.item.args_iter().filter_map(|arg| match arg {
            Arg::Simple(bytes) => Some(bytes),
            _ => None,
        })
    }

    /// The call of this settlement alone: `EVALSHA` of the loaded script, written straight
    /// into one command (a script invocation would copy every argument twice more).
    pub(crate) fn lone(&self, script_hash: &str) -> Cmd {
        let arg_count = 6 + self.keys.len() + self.item.args_iter().len();
        let bytes = 64
            + script_hash.len()
            + self.window_prefix.len()
            + self.keys.iter().map(String::len).sum::<usize>()
            + self.item_args().map(<[u8]>::len).sum::<usize>();
        let mut cmd = Cmd::with_capacity(arg_count, bytes);
        cmd.arg("EVALSHA")
            .arg(script_hash)
            .arg(self.keys.len())
            .arg(&self.keys[..])
            .arg("settle")
            .arg(self.now_ms)
            .arg(self.window_prefix.as_str());
        for arg in self.item_args() {
            cmd.arg(arg);
        }
        cmd
    }
}

/// One call for settlements of one key (same tag): `EVALSHA` of the loaded script, answered by
/// one 0/1 per settlement, in order.
pub(crate) fn joined_settle(script_hash: &str, calls: &[&SettleCall]) -> redis::Cmd {
    let first = calls[0];
    let mut keys: Vec<&str> = first.keys[..SETTLE_FIXED_KEYS]
        .iter()
        .map(String::as_str)
        .collect();
    keys.extend(calls.iter().map(|c| c.keys[2].as_str()));
    // Window keys are declared too (a cluster routes by them); each once.
    for call in calls {
        for window in &call.keys[SETTLE_FIXED_KEYS..] {
            if !keys[SETTLE_FIXED_KEYS + calls.len()..].contains(&window.as_str()) {
                keys.push(window);
            }
        }
    }
    // Live settlements of one batch are milliseconds apart; the latest clock serves them all.
    let now_ms = calls.iter().map(|c| c.now_ms).max().unwrap_or(first.now_ms);
    // Sized up front: a batch joins up to a hundred settlements of some forty arguments each.
    let (mut arg_count, mut bytes) = (8 + keys.len(), 64 + script_hash.len());
    bytes += keys.iter().map(|k| k.len()).sum::<usize>();
    for call in calls {
        arg_count += 1 + call.item.args_iter().len();
        bytes += 4 + call.item_args().map(<[u8]>::len).sum::<usize>();
    }
    let mut cmd = Cmd::with_capacity(arg_count, bytes);
    cmd.arg("EVALSHA");
    cmd.arg(script_hash)
        .arg(keys.len())
        .arg(&keys[..])
        .arg("settle_many")
        .arg(now_ms)
        .arg(first.window_prefix.as_str())
        .arg(calls.len());
    for call in calls {
        cmd.arg(call.item.args_iter().len());
        for arg in call.item_args() {
            cmd.arg(arg);
        }
    }
    cmd
}

pub(crate) fn release<'a>(
    script: &'a Script,
    names: &KeyNames,
    ledger: &LedgerStreams,
    request_id: &str,
    now_ms: u64,
) -> ScriptInvocation<'a> {
    let mut inv = names.invocation(script, "release", now_ms, request_id, ledger);
    inv.arg(request_id);
    inv
}

/// What an admission did to the lease it asked for: `[granted (-1: gone), slots, tokens, expiry]`.
pub(crate) type LeaseReply = [i64; 4];

/// Decodes per-window sums (used, then resets) from a reply slice.
pub(crate) fn parse_sums(flat: &[i64], windows: usize) -> Option<WindowSums> {
    if flat.len() != 10 * windows {
        return None;
    }
    let mut sums = Vec::with_capacity(windows);
    for chunk in flat.chunks(10) {
        let mut used = [0u64; 5];
        let mut resets = [0u64; 5];
        for (m, (used, resets)) in used.iter_mut().zip(&mut resets).enumerate() {
            // A lease given back concurrently can leave a transiently negative sum.
            *used = u64::try_from(chunk[m]).unwrap_or(0);
            *resets = u64::try_from(chunk[5 + m]).ok()?;
        }
        sums.push((used, resets));
    }
    Some(sums)
}

/// Decodes the reply of `admit`/`usage`: per-window sums and the lease answer, or why the
/// request was rejected.
pub(crate) fn parse_check(
    reply: &[i64],
    limits: &KeyLimits,
    now_ms: u64,
) -> Result<Result<(WindowSums, LeaseReply), Rejection>, LimitError> {
    let bad = || LimitError::Store(format!("unexpected limiter reply {reply:?}"));
    let u = |v: i64| u64::try_from(v).map_err(|_| bad());
    let n = limits.windows.len();
    match reply.first() {
        Some(1) if reply.len() == 1 + 10 * n + 4 => {
            let sums = parse_sums(&reply[1..1 + 10 * n], n).ok_or_else(bad)?;
            let tail = &reply[1 + 10 * n..];
            Ok(Ok((sums, [tail[0], tail[1], tail[2], tail[3]])))
        }
        Some(2) if reply.len() == 3 => Ok(Err(Rejection::TooManyConcurrent {
            limit: u32::try_from(reply[1]).map_err(|_| bad())?,
            in_flight: u(reply[2])?,
        })),
        Some(3) if reply.len() == 6 => {
            let window = limits
                .windows
                .get(usize::try_from(reply[1]).map_err(|_| bad())?)
                .ok_or_else(bad)?;
            let metric = *Metric::ALL
                .get(usize::try_from(reply[2]).map_err(|_| bad())?)
                .ok_or_else(bad)?;
            let frees = reply[5];
            Ok(Err(Rejection::OverLimit {
                window: window.window,
                metric,
                limit: u(reply[3])?,
                used: u(reply[4])?,
                retry_after: u64::try_from(frees)
                    .ok()
                    .map(|f| Duration::from_millis(f.saturating_sub(now_ms))),
            }))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_of_one_api_key_shares_its_hash_tag() {
        let names = KeyNames::new(&KeyId::new("team-a", "ci"));
        assert_eq!(names.window_key(60_000), "{bsg:team-a/ci}:w:60000");
        assert_eq!(
            names.ledger(&LedgerStreams::PerKey("bsg:ledger".into())),
            "bsg:ledger:{bsg:team-a/ci}"
        );
        assert_eq!(
            names.fixed_keys("req_1", &LedgerStreams::Off),
            [
                "{bsg:team-a/ci}:res",
                "{bsg:team-a/ci}:exp",
                "{bsg:team-a/ci}:done:req_1",
                "{bsg:team-a/ci}:ledger",
            ]
        );
        assert_eq!(
            names.ledger(&LedgerStreams::Single("bsg:all".into())),
            "bsg:all"
        );
        assert_eq!(names.window_prefix(), "{bsg:team-a/ci}:w:");
        let odd = KeyNames::new(&KeyId::new("a{b", "c}"));
        assert_eq!(odd.tag, "{bsg:a_b/c_}");
    }
}
