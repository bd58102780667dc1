//! Stream translation throughput (MB/s of upstream stream) per direction.

use bytespike_protocol::Dialect;
use bytespike_translate::ResponseTranslator;
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

criterion_group!(benches, streams);
criterion_main!(benches);
