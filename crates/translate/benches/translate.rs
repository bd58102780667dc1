//! Stream translation throughput (MB/s of upstream stream) per direction, and the cost of
//! one small whole-body call translated both ways (the request path of the W2 workload).

use bytespike_protocol::Dialect;
use bytespike_translate::{translate_request, ResponseTranslator};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const DELTAS: usize = 2000;

/// A realistic upstream stream of `DELTAS` text deltas, framed as `upstream` sends them.
fn upstream_stream(upstream: Dialect) -> Vec<u8> {
    let mut s = String::new();
    match upstream {
        Dialect::Anthropic => {
            s.push_str("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n");
            s.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
            for i in 0..DELTAS {
                s.push_str(&format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"token {i} of the answer \"}}}}\n\n"));
            }
            s.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
            s.push_str("event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2000}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        }
        Dialect::Gemini => {
            for i in 0..DELTAS {
                s.push_str(&format!("data: {{\"candidates\":[{{\"content\":{{\"role\":\"model\",\"parts\":[{{\"text\":\"token {i} of the answer \"}}]}},\"index\":0}}],\"usageMetadata\":{{\"promptTokenCount\":10,\"candidatesTokenCount\":{i},\"totalTokenCount\":{i}}},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}}\r\n\r\n"));
            }
            s.push_str("data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"\"}]},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":2000,\"totalTokenCount\":2010},\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\"}\r\n\r\n");
        }
        _ => {
            for i in 0..DELTAS {
                s.push_str(&format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} of the answer \"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"));
            }
            s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
            s.push_str("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":2000,\"total_tokens\":2010}}\n\ndata: [DONE]\n\n");
        }
    }
    s.into_bytes()
}

fn streams(c: &mut Criterion) {
    let mut group = c.benchmark_group("stream");
    for (client, upstream) in bytespike_translate::fuzz::ROUTES.iter().copied() {
        let input = upstream_stream(upstream);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(format!("{client}_from_{upstream}"), |b| {
            b.iter(|| {
                let mut t = ResponseTranslator::new(client, upstream, true, "client-model", true);
                let mut out = Vec::with_capacity(input.len() * 2);
                // Proxy-sized chunks that cut frames at arbitrary places.
                for chunk in input.chunks(1400) {
                    t.feed(chunk, &mut out);
                }
                t.finish(&mut out);
                black_box(out)
            })
        });
    }
    group.finish();
}

/// The W2 request: a small Anthropic Messages call.
const CLIENT_BODY: &[u8] = br#"{"model":"bench-chat","max_tokens":64,"stream":false,"messages":[{"role":"user","content":"Hello from the benchmark"}]}"#;

/// The reverse route's request: a small OpenAI chat call.
const OPENAI_CLIENT_BODY: &[u8] = br#"{"model":"bench-chat","max_tokens":64,"stream":false,"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello from the benchmark"}]}"#;

/// The W2 answer: a small OpenAI chat.completion with usage.
const UPSTREAM_BODY: &[u8] = br#"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-chat","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21},"system_fingerprint":"fp_bench"}"#;

/// An agent's conversation as coding assistants send it: `turns` rounds of a user question,
/// an assistant tool call and its result, each turn's content given as blocks.
fn agent_conversation(turns: usize) -> Vec<u8> {
    let mut messages = Vec::new();
    for i in 0..turns {
        messages.push(serde_json::json!({"role": "user", "content": [
            {"type": "text", "text": format!("Step {i}: read the next file and summarise it.")}
        ]}));
        messages.push(serde_json::json!({"role": "assistant", "content": [
            {"type": "text", "text": "Reading it."},
            {"type": "tool_use", "id": format!("toolu_{i}"), "name": "read_file",
             "input": {"path": format!("src/module_{i}.rs")}}
        ]}));
        messages.push(serde_json::json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": format!("toolu_{i}"),
             "content": [{"type": "text", "text": "fn main() { println!(\"hello\"); }"}]}
        ]}));
    }
    let body = serde_json::json!({
        "model": "bench-chat", "max_tokens": 1024, "system": "You are a coding agent.",
        "tools": [{"name": "read_file", "description": "Reads a file.",
                   "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}],
        "messages": messages,
    });
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

fn whole_bodies(c: &mut Criterion) {
    let mut group = c.benchmark_group("body");
    let (client, upstream) = (Dialect::Anthropic, Dialect::OpenAiChat);
    group.bench_function("request_anthropic_to_openai_chat", |b| {
        b.iter(|| translate_request(client, upstream, black_box(CLIENT_BODY), "bench-chat"))
    });
    let conversation = agent_conversation(20);
    group.bench_function("request_anthropic_to_openai_chat_60_messages", |b| {
        b.iter(|| translate_request(client, upstream, black_box(&conversation), "bench-chat"))
    });
    group.bench_function("request_openai_chat_to_anthropic", |b| {
        b.iter(|| {
            let body = black_box(OPENAI_CLIENT_BODY);
            translate_request(Dialect::OpenAiChat, Dialect::Anthropic, body, "bench-chat")
        })
    });
    let request = translate_request(client, upstream, CLIENT_BODY, "bench-chat").unwrap();
    group.bench_function("response_openai_chat_to_anthropic", |b| {
        b.iter(|| {
            let mut t = ResponseTranslator::for_request(client, upstream, &request, "bench-chat");
            let mut out = Vec::new();
            t.feed(black_box(UPSTREAM_BODY), &mut out);
            t.finish(&mut out);
            black_box(out)
        })
    });
    group.finish();
}

criterion_group!(benches, streams, whole_bodies);
criterion_main!(benches);
