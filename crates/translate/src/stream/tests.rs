//! Encoder invariants that hold whatever order the events arrive in.

use super::Encode;
use crate::anthropic::stream::Encoder as AnthropicEncoder;
use crate::ir::{BlockStart, Delta, StopReason, StreamEvent};
use crate::openai_chat::stream::Encoder as OpenAiEncoder;
use bytespike_protocol::Usage;

fn names(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .filter_map(|l| l.strip_prefix("event: ").map(str::to_string))
        .collect()
}

#[test]
fn anthropic_stream_is_completed_around_sparse_events() {
    let mut enc = AnthropicEncoder::new("m");
    let mut out = Vec::new();
    // No message_start, a block never stopped, a delta for an unknown block.
    enc.encode(
        StreamEvent::BlockStart {
            index: 7,
            block: BlockStart::Text,
        },
        &mut out,
    );
    enc.encode(
        StreamEvent::BlockDelta {
            index: 7,
            delta: Delta::Text("hi".into()),
        },
        &mut out,
    );
    enc.encode(
        StreamEvent::BlockDelta {
            index: 9,
            delta: Delta::Text("lost".into()),
        },
        &mut out,
    );
    enc.encode(StreamEvent::MessageStop, &mut out);
    enc.encode(StreamEvent::MessageStop, &mut out);
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(
        String::from_utf8_lossy(&out).contains("\"index\":0"),
        "client indices restart at 0"
    );
}

#[test]
fn openai_tool_call_without_arguments_gets_empty_object() {
    let mut enc = OpenAiEncoder::new("m", 1, false);
    let mut out = Vec::new();
    let block = BlockStart::ToolUse {
        id: "c1".into(),
        name: "now".into(),
    };
    enc.encode(StreamEvent::BlockStart { index: 0, block }, &mut out);
    enc.encode(
        StreamEvent::BlockDelta {
            index: 0,
            delta: Delta::InputJson(String::new()),
        },
        &mut out,
    );
    enc.encode(StreamEvent::BlockStop { index: 0 }, &mut out);
    enc.encode(
        StreamEvent::MessageDelta {
            stop: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Usage::default(),
        },
        &mut out,
    );
    enc.encode(StreamEvent::MessageStop, &mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains(r#""arguments":"{}""#), "{text}");
    assert!(text.contains(r#""finish_reason":"tool_calls""#));
    assert!(!text.contains("\"usage\""), "no usage chunk unless asked");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

/// Frames of `delta`, after a started message, written by `enc`.
fn delta_frame(enc: &mut dyn Encode, delta: Delta) -> String {
    let mut out = Vec::new();
    let start = StreamEvent::MessageStart {
        id: Some("id1".into()),
        usage: Usage::default(),
    };
    enc.encode(start, &mut out);
    let block = BlockStart::Text;
    enc.encode(StreamEvent::BlockStart { index: 0, block }, &mut out);
    out.clear();
    enc.encode(StreamEvent::BlockDelta { index: 0, delta }, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn per_frame_deltas_are_written_in_the_vendors_field_order() {
    let text = || Delta::Text("say \"hi\"\n".into());
    assert_eq!(
        delta_frame(&mut AnthropicEncoder::new("m"), text()),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
         \"delta\":{\"type\":\"text_delta\",\"text\":\"say \\\"hi\\\"\\n\"}}\n\n"
    );
    let json = Delta::InputJson("{\"a\"".into());
    assert_eq!(
        delta_frame(&mut AnthropicEncoder::new("m"), json),
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
         \"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\"\"}}\n\n"
    );
    assert_eq!(
        delta_frame(&mut OpenAiEncoder::new("m", 7, false), text()),
        "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\
         \"choices\":[{\"index\":0,\"delta\":{\"content\":\"say \\\"hi\\\"\\n\"},\"logprobs\":null,\
         \"finish_reason\":null}]}\n\n"
    );
    assert_eq!(
        delta_frame(
            &mut OpenAiEncoder::new("m", 7, false),
            Delta::Thinking("t".into())
        ),
        "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":7,\"model\":\"m\",\
         \"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"t\"},\"logprobs\":null,\
         \"finish_reason\":null}]}\n\n"
    );
}
