//! Upstream output read leniently: fields of unexpected types count as absent instead of failing
//! the answer, escaped text comes through unescaped, and what matters is still read.

use bytespike_protocol::{Dialect, Usage};
use bytespike_translate::ir::{Part, StopReason};
use bytespike_translate::{decode_body, ResponseTranslator};
use serde_json::{json, Value};

fn texts(parts: &[Part]) -> Vec<&str> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_openai_body_with_odd_types_keeps_what_it_can() {
    let body = json!({
        "id": 7,
        "choices": [
            "not a choice",
            {"index": 0, "message": {
                "content": ["parts", "are", "not", "text"],
                "refusal": null,
                "reasoning_content": {"nested": true},
                "tool_calls": [1, {"id": "call_1", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}}],
            }, "finish_reason": "tool_calls"},
        ],
        "usage": {"prompt_tokens": "12", "completion_tokens": 9,
                  "prompt_tokens_details": [3], "completion_tokens_details": {"reasoning_tokens": 2}},
    });
    let resp = decode_body(Dialect::OpenAiChat, body.to_string().as_bytes()).unwrap();
    assert_eq!(resp.id, None);
    assert!(texts(&resp.content).is_empty());
    let calls: Vec<_> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse { id, name, input } => Some((id.as_str(), name.as_str(), input.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(calls, [("call_1", "lookup", json!({"q": "x"}))]);
    assert_eq!(resp.stop, Some(StopReason::ToolUse));
    let want = Usage {
        output_tokens: 9,
        reasoning_tokens: 2,
        ..Usage::default()
    };
    assert_eq!(resp.usage, want);
}

#[test]
fn bodies_that_are_not_objects_or_not_json_are_errors() {
    for upstream in [Dialect::OpenAiChat, Dialect::Gemini, Dialect::Anthropic] {
        for body in [&b"[1,2]"[..], b"\"text\"", b"{\"id\":", b"{} {}"] {
            assert!(
                decode_body(upstream, body).is_err(),
                "{upstream:?} accepted {}",
                String::from_utf8_lossy(body)
            );
        }
    }
}

#[test]
fn a_gemini_body_with_odd_types_keeps_what_it_can() {
    let body = json!({
        "responseId": ["r"],
        "candidates": [{"content": {"parts": [
            {"text": "visible", "thought": "yes"},
            {"text": 5},
            {"functionCall": {"name": "lookup", "args": "not an object"}},
        ]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": -1, "thoughtsTokenCount": 4},
    });
    let resp = decode_body(Dialect::Gemini, body.to_string().as_bytes()).unwrap();
    assert_eq!(texts(&resp.content), ["visible"]);
    let input = resp.content.iter().find_map(|p| match p {
        Part::ToolUse { name, input, .. } if name == "lookup" => Some(input.clone()),
        _ => None,
    });
    assert_eq!(input, Some(json!({})));
    assert_eq!(resp.stop, Some(StopReason::ToolUse));
    assert_eq!((resp.usage.input_tokens, resp.usage.output_tokens), (10, 4));
}

/// The client's text deltas of a translated stream, joined, and its usage.
fn stream_text(client: Dialect, upstream: Dialect, stream: &str) -> (String, Option<Usage>) {
    let mut t = ResponseTranslator::new(client, upstream, true, "m", true);
    let mut out = Vec::new();
    // Cut mid-frame, as the network does.
    for chunk in stream.as_bytes().chunks(7) {
        t.feed(chunk, &mut out);
    }
    t.finish(&mut out);
    let mut text = String::new();
    for line in String::from_utf8(out).unwrap().lines() {
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        let Ok(ev) = serde_json::from_str::<Value>(data) else {
            continue;
        };
        let piece = ev["delta"]["text"]
            .as_str()
            .or(ev["choices"][0]["delta"]["content"].as_str());
        text.push_str(piece.unwrap_or(""));
    }
    (text, t.usage())
}

#[test]
fn escaped_stream_text_arrives_unescaped_across_odd_events() {
    let tricky = "line one\nsaid \"hi\" \\ caf\u{e9} \u{1f600}";
    let quoted = serde_json::to_string(tricky).unwrap();
    let escaped_unicode = "\"caf\\u00e9 \\ud83d\\ude00\"";
    let openai = format!(
        "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{quoted}}}}}]}}\n\n\
         data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":{escaped_unicode},\"tool_calls\":null}}}}]}}\n\n\
         data: {{\"choices\":{{\"index\":0}},\"usage\":null}}\n\n\
         data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n\
         data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":3}}}}\n\n\
         data: [DONE]\n\n"
    );
    let (text, usage) = stream_text(Dialect::Anthropic, Dialect::OpenAiChat, &openai);
    assert_eq!(text, format!("{tricky}caf\u{e9} \u{1f600}"));
    assert_eq!(
        usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((5, 3))
    );

    let anthropic = format!(
        "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"m\",\"usage\":{{\"input_tokens\":\"x\",\"output_tokens\":1}}}}}}\n\n\
         event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":{quoted}}}}}\n\n\
         event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":[1]}}}}\n\n\
         event: ping\ndata: {{\"type\":\"ping\",\"index\":\"zero\"}}\n\n\
         event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
         event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\"}},\"usage\":{{\"output_tokens\":6}}}}\n\n\
         event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
    );
    let (text, usage) = stream_text(Dialect::OpenAiChat, Dialect::Anthropic, &anthropic);
    assert_eq!(text, tricky);
    assert_eq!(
        usage.map(|u| (u.input_tokens, u.output_tokens)),
        Some((0, 6))
    );
}

#[test]
fn a_stream_event_that_is_not_an_object_ends_the_stream_with_an_error() {
    let stream =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: [1]\n\n";
    let mut t = ResponseTranslator::new(Dialect::Anthropic, Dialect::OpenAiChat, true, "m", true);
    let mut out = Vec::new();
    t.feed(stream.as_bytes(), &mut out);
    t.finish(&mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("event: error"), "{out}");
    assert!(out.contains("not a JSON object"), "{out}");
}
