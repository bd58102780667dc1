//! Canned upstream answers. Everything is built once at start-up so the upstream does no
//! per-request work beyond reading the request body: the floor the proxies are measured against
//! must stay as low and as flat as possible.

use bytes::Bytes;

/// An OpenAI `chat.completion`, with usage so the gateway bills it like a real answer.
pub const OPENAI_JSON: &str = concat!(
    r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"#,
    r#""model":"bench-chat","choices":[{"index":0,"message":{"role":"assistant","#,
    r#""content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"#,
    r#""finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"#,
    r#""total_tokens":21},"system_fingerprint":"fp_bench"}"#
);

/// An Anthropic `message`, with usage.
pub const ANTHROPIC_JSON: &str = concat!(
    r#"{"id":"msg_bench","type":"message","role":"assistant","model":"bench-chat","#,
    r#""content":[{"type":"text","text":"Hello! How can I help you today?"}],"#,
    r#""stop_reason":"end_turn","stop_sequence":null,"#,
    r#""usage":{"input_tokens":12,"output_tokens":9}}"#
);

/// Which wire protocol a stream speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    OpenAi,
    Anthropic,
}

/// The body writes of one stream, exactly `frames` of them (at least 3). Frame 0 opens the
/// message, the last two carry usage and the terminator, the rest are one token each. For
/// OpenAI one write is one SSE event; Anthropic's first and usage writes hold two events each,
/// as a vendor sends them back to back.
pub fn sse_frames(protocol: Protocol, frames: usize) -> Vec<Bytes> {
    let frames = frames.max(3);
    let mut out = Vec::with_capacity(frames);
    match protocol {
        Protocol::OpenAi => {
            let chunk = |delta: &str, finish: &str, usage: &str| {
                format!(
                    "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\
                     \"created\":1700000000,\"model\":\"bench-chat\",\"choices\":[{{\"index\":0,\
                     \"delta\":{{{delta}}},\"finish_reason\":{finish}}}]{usage}}}\n\n"
                )
            };
            out.push(chunk(r#""role":"assistant","content":"""#, "null", ""));
            for _ in 0..frames - 3 {
                out.push(chunk(r#""content":"tok ""#, "null", ""));
            }
            let usage = format!(
                ",\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{},\"total_tokens\":{}}}",
                frames - 3,
                frames + 9
            );
            out.push(chunk("", "\"stop\"", &usage));
            out.push("data: [DONE]\n\n".to_owned());
        }
        Protocol::Anthropic => {
            // message_start, then deltas, then message_delta (usage) and message_stop; the
            // content block's start/stop travel with the first and last delta to keep the count.
            out.push(
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\
                 \"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\
                 \"bench-chat\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\"\
                 :12,\"output_tokens\":1}}}\n\nevent: content_block_start\ndata: {\"type\":\
                 \"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\
                 \"text\":\"\"}}\n\n"
                    .to_owned(),
            );
            for _ in 0..frames - 3 {
                out.push(
                    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\
                     \"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"tok \"}}\n\n"
                        .to_owned(),
                );
            }
            out.push(format!(
                "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\
                 \n\nevent: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\
                 \"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\
                 \"output_tokens\":{}}}}}\n\n",
                frames - 3
            ));
            out.push("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_owned());
        }
    }
    out.into_iter().map(Bytes::from).collect()
}

/// True when a JSON request body asks for a stream (`"stream": true`, any spacing). A byte scan
/// rather than a parse: the upstream must not spend time the proxies would be charged with.
pub fn wants_stream(body: &[u8]) -> bool {
    let Some(at) = memchr::memmem::find(body, b"\"stream\"") else {
        return false;
    };
    let rest = &body[at + 8..];
    let rest = trim_start(rest);
    let Some(rest) = rest.strip_prefix(b":") else {
        return false;
    };
    trim_start(rest).starts_with(b"true")
}

fn trim_start(bytes: &[u8]) -> &[u8] {
    let skip = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &bytes[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_flag_with_any_spacing() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(br#"{"model": "m", "stream" : true}"#));
        assert!(!wants_stream(br#"{"model":"m","stream":false}"#));
        assert!(!wants_stream(br#"{"model":"m"}"#));
    }

    #[test]
    fn frame_counts_and_valid_json() {
        for protocol in [Protocol::OpenAi, Protocol::Anthropic] {
            let frames = sse_frames(protocol, 64);
            assert_eq!(frames.len(), 64);
            for frame in &frames {
                let text = std::str::from_utf8(frame).unwrap();
                assert!(text.ends_with("\n\n"));
                for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
                    if line != "[DONE]" {
                        serde_json::from_str::<serde_json::Value>(line).unwrap();
                    }
                }
            }
        }
        serde_json::from_str::<serde_json::Value>(OPENAI_JSON).unwrap();
        serde_json::from_str::<serde_json::Value>(ANTHROPIC_JSON).unwrap();
    }
}
