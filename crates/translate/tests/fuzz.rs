//! Thousands of random and mutated inputs through every decoder and stream translator.

use bytespike_translate::fuzz::{fuzz_error, fuzz_request, fuzz_stream, ROUTES};
use serde_json::Value;
use std::path::Path;

/// Fixture inputs of one route.
struct Seeds {
    route: usize,
    requests: Vec<Vec<u8>>,
    upstreams: Vec<Vec<u8>>,
}

/// Fixture inputs per route: client requests, upstream streams and bodies.
fn seeds() -> Vec<Seeds> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    ROUTES
        .iter()
        .enumerate()
        .map(|(i, (client, upstream))| {
            let dir = root.join(format!("{}_to_{}", client.as_str(), upstream.as_str()));
            let (mut requests, mut upstreams) = (Vec::new(), Vec::new());
            for entry in std::fs::read_dir(dir).unwrap() {
                let doc: Value =
                    serde_yaml::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap())
                        .unwrap();
                if let Some(r) = doc.get("client_request") {
                    requests.push(serde_json::to_vec(r).unwrap());
                }
                if let Some(s) = doc.get("upstream_stream").and_then(Value::as_str) {
                    upstreams.push(s.as_bytes().to_vec());
                }
                if let Some(b) = doc.get("upstream_response") {
                    upstreams.push(serde_json::to_vec(b).unwrap());
                }
            }
            Seeds {
                route: i,
                requests,
                upstreams,
            }
        })
        .collect()
}

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e400",
    b"\\u0000",
    b"\n\n",
    b"data: ",
    b"event: error\n",
    b"data: [DONE]\n\n",
    b"\"index\":99999999999",
    b"\"type\":\"tool_use\"",
    b"\"content_block_start\"",
    b"\"thought\":true",
    b"\"$ref\":\"#/$defs/x\"",
    b"\"functionCall\":{}",
    b"\"type\":\"function_call\"",
    b"\"type\":\"reasoning\"",
    b"\"encrypted_content\":\"ir1.eyJ0Ijoi\"",
    b"\"previous_response_id\":\"r\"",
];

fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..rng.usize(1..6) {
        let at = rng.usize(0..=data.len());
        match rng.u8(0..5) {
            0 if !data.is_empty() => {
                let i = rng.usize(0..data.len());
                data[i] = rng.u8(..);
            }
            1 => data.truncate(at),
            2 => data
                .splice(at..at, rng.choice(TOKENS).unwrap().iter().copied())
                .for_each(drop),
            3 if at < data.len() => {
                let end = rng.usize(at..=data.len());
                data.drain(at..end);
            }
            _ => {
                let len = rng.usize(0..32);
                data.splice(at..at, std::iter::repeat_with(|| rng.u8(..)).take(len))
                    .for_each(drop);
            }
        }
    }
    data
}

fn noise(rng: &mut fastrand::Rng) -> Vec<u8> {
    let len = rng.usize(0..64);
    std::iter::repeat_with(|| rng.u8(..)).take(len).collect()
}

#[test]
fn random_and_mutated_inputs_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5EED_B17E);
    let seeds = seeds();
    let iterations: usize = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000);
    for n in 0..iterations {
        let Seeds {
            route,
            requests,
            upstreams,
        } = &seeds[n % seeds.len()];
        let (client, upstream) = ROUTES[*route];
        let request = match rng.choice(requests.iter()) {
            Some(seed) if rng.u8(0..4) > 0 => mutate(&mut rng, seed),
            _ => noise(&mut rng),
        };
        fuzz_request(client, upstream, &request);
        let body = match rng.choice(upstreams.iter()) {
            Some(seed) if rng.u8(0..4) > 0 => mutate(&mut rng, seed),
            _ => noise(&mut rng),
        };
        let split = rng.usize(0..=body.len());
        fuzz_stream(client, upstream, &body, split);
        fuzz_error(client, upstream, rng.u16(100..600), &body);
    }
}
