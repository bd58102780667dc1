//! Settled requests appear in the ledger once, in the documented format.

use std::collections::HashMap;

use bytespike_limits::{
    KeyLimits, LedgerRecord, Limiter, RedisLimiter, Reservation, SettleOutcome, Settlement,
};

use crate::server::RedisServer;
use crate::support::*;

/// Reads every record of a stream through a plain connection.
pub fn read_stream(url: &str, stream: &str) -> Vec<LedgerRecord> {
    let client = redis::Client::open(url).unwrap();
    let mut con = client.get_connection().unwrap();
    let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    entries.into_iter().map(|(_, flat)| parse(flat)).collect()
}

/// Turns a flat field/value list into a record, checking that the fields come in their
/// documented order.
pub fn parse(flat: Vec<String>) -> LedgerRecord {
    let names: Vec<&str> = flat.chunks(2).map(|kv| kv[0].as_str()).collect();
    assert_eq!(names, LedgerRecord::FIELD_NAMES);
    let map: HashMap<String, String> = flat
        .chunks(2)
        .map(|kv| (kv[0].clone(), kv[1].clone()))
        .collect();
    LedgerRecord::from_fields(&map).unwrap()
}

/// Settles two requests (one twice) and one of a key without limits; returns the expected records.
async fn settle_some(l: &dyn Limiter) -> Vec<LedgerRecord> {
    let k = key("ledger");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(10));
    let mut expected = Vec::new();
    let mut settle = async |res: &Reservation, s: Settlement| {
        assert_eq!(
            l.settle(res, &s, t0()).await.unwrap(),
            SettleOutcome::Settled
        );
        assert_eq!(
            l.settle(res, &s, t0()).await.unwrap(),
            SettleOutcome::Duplicate
        );
        expected.push(LedgerRecord::new(res, &s));
    };
    let (a, _) = admitted(admit(l, &k, &limits, "a", 3, t0()).await);
    settle(&a, settlement(1, 2, 3, 4, 5)).await;
    let (b, _) = admitted(admit(l, &k, &limits, "b", 3, t0()).await);
    let mut s = settlement(10, 20, 30, 40, 50);
    s.usage.reasoning_tokens = 7;
    s.status = 499;
    settle(&b, s).await;
    let (free, _) = admitted(admit(l, &key("free"), &KeyLimits::default(), "c", 0, t0()).await);
    settle(&free, settlement(0, 0, 0, 0, 0)).await;
    expected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_ledger_holds_each_settlement_once() {
    let server = RedisServer::start();
    let limiter = RedisLimiter::new(redis_config(&server.url())).unwrap();
    // A key without limits holds a reservation here too: its settlement is its ledger record.
    assert!(limiter.tracks_unlimited());
    let expected = settle_some(&limiter).await;
    assert_eq!(expected[1].reasoning_tokens, 7);
    assert_eq!(read_stream(&server.url(), "bsg:ledger"), expected);
}

/// Runs the script (`source`) for `op` on one key's fixed names and a 60 s window at time 0.
fn eval(
    con: &mut redis::Connection,
    source: &str,
    op: &str,
    args: &[&str],
) -> redis::RedisResult<redis::Value> {
    let keys = [
        "{t}:res",
        "{t}:exp",
        "{t}:done:r1",
        "{t}:ledger",
        "{t}:w:60000",
    ];
    redis::cmd("EVAL")
        .arg(source)
        .arg(keys.len())
        .arg(&keys[..])
        .arg(op)
        .arg(0)
        .arg("{t}:w:")
        .arg(args)
        .query(con)
}

/// The script pairs the ledger values it is sent with its own field names; a settlement whose
/// values do not pair up is refused before anything is written, alone or in a batch.
#[test]
fn a_settlement_with_unpaired_ledger_values_writes_nothing() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_connection().unwrap();
    // Two names here; the settlements below carry three values.
    let source = format!(
        "local LEDGER_FIELDS = {{ 'a', 'b' }}\n{}",
        include_str!("../../src/redis/limiter.lua")
    );
    // marker ttl, id, admit ms, five amounts, maxlen, lease, estimate, one window of 60 s.
    let item = [
        "1000", "r1", "0", "1", "1", "1", "0", "0", "100", "", "0", "1", "60000", "x", "y", "z",
    ];
    let message = eval(&mut con, &source, "settle", &item)
        .unwrap_err()
        .to_string();
    assert!(message.contains("3 ledger values, not 2"), "{message}");
    let count = item.len().to_string();
    let batch: Vec<&str> = ["1", count.as_str()].into_iter().chain(item).collect();
    assert!(eval(&mut con, &source, "settle_many", &batch).is_err());
    let written: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).unwrap();
    assert!(written.is_empty(), "{written:?}");
    // The same settlement with two values is counted, which shows the refusal was the count's.
    let settled = eval(&mut con, &source, "settle", &item[..item.len() - 1]).unwrap();
    assert_eq!(redis::from_redis_value::<Vec<i64>>(settled).unwrap(), [1]);
    let stream: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg("{t}:ledger")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    assert_eq!(stream.len(), 1);
    assert_eq!(stream[0].1, ["a", "x", "b", "y"]);
}
