use super::stream::Encoder;
use super::Echo;
use crate::ir::{BlockStart, Delta, StreamEvent};
use crate::stream::Encode;
use bytespike_protocol::{ErrorKind, GatewayError, Usage};
use serde_json::Value;

fn run(events: Vec<StreamEvent>) -> Vec<(String, Value)> {
    let mut enc = Encoder::new("m", 1, Echo::default());
    let mut out = Vec::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    String::from_utf8(out)
        .unwrap()
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (name, data) = f.split_once('\n').unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            (name.strip_prefix("event: ").unwrap().to_string(), data)
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn an_error_before_any_event_still_opens_the_response() {
    let events = run(vec![StreamEvent::Error(GatewayError::new(
        ErrorKind::RateLimited,
        "slow down",
    ))]);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "error",
            "response.failed"
        ]
    );
    assert_eq!(events[2].1["code"], "rate_limit_exceeded");
    let failed = &events[3].1["response"];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "rate_limit_exceeded");
    assert_eq!(failed["error"]["message"], "slow down");
    let seqs: Vec<u64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3]);
}

#[test]
fn an_item_cut_by_an_error_is_left_out_and_nothing_follows() {
    let events = run(vec![
        StreamEvent::MessageStart {
            id: Some("u1".into()),
            usage: Usage::default(),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: Delta::Text("Hel".into()),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::ToolUse {
                id: "c".into(),
                name: "f".into(),
            },
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: Delta::InputJson("{\"a\"".into()),
        },
        StreamEvent::Error(GatewayError::new(ErrorKind::Upstream, "cut")),
        StreamEvent::MessageStop,
    ]);
    let (last, data) = events.last().unwrap();
    assert_eq!(last, "response.failed");
    let output = data["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "message");
    assert_eq!(data["response"]["error"]["code"], "server_error");
}

#[test]
fn overlapping_blocks_close_in_order_and_empty_calls_get_empty_objects() {
    let events = run(vec![
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::ToolUse {
                id: "c0".into(),
                name: "f".into(),
            },
        },
        // A second block opening before the first stops closes the first.
        StreamEvent::BlockStart {
            index: 1,
            block: BlockStart::Text,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: Delta::InputJson("late".into()),
        },
        StreamEvent::BlockDelta {
            index: 1,
            delta: Delta::Text("ok".into()),
        },
        StreamEvent::MessageStop,
    ]);
    let done: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "response.output_item.done")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(done.len(), 2);
    assert_eq!(done[0]["item"]["arguments"], "{}");
    assert_eq!(done[0]["output_index"], 0);
    assert_eq!(done[1]["item"]["content"][0]["text"], "ok");
    assert_eq!(done[1]["output_index"], 1);
    assert_eq!(events.last().unwrap().0, "response.completed");
    // Item ids are distinct and every event of an item names the same id.
    let ids: Vec<&str> = done
        .iter()
        .map(|d| d["item"]["id"].as_str().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert!(events
        .iter()
        .filter(|(_, d)| d["output_index"] == 1 && d.get("item_id").is_some())
        .all(|(_, d)| d["item_id"] == ids[1]));
}
