//! The non-chat endpoints: OpenAI embeddings and image generation, Anthropic token counting.

use base64::Engine;
use serde_json::{json, Value};

use crate::record::now_ms;

/// A valid 1x1 PNG, returned by image generation.
pub const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The PNG's bytes, served at `/_fake/image.png` for `response_format: url`.
pub fn png_bytes() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PNG_BASE64)
        .unwrap_or_default()
}

fn input_tokens(body_len: usize) -> u64 {
    (body_len as u64).div_ceil(4)
}

/// `POST /v1/embeddings`: one deterministic unit vector per input; `Err` is a 400 message.
pub fn embeddings(req: &Value, body_len: usize) -> Result<Value, String> {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or("you must provide a model parameter")?;
    let inputs: Vec<String> = match req.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        // Arrays of strings, of token ids, or of token-id arrays all hash their JSON form.
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect(),
        _ => return Err("'input' is a required property and must not be empty".into()),
    };
    let dims = req
        .get("dimensions")
        .and_then(Value::as_u64)
        .unwrap_or(8)
        .clamp(1, 65_536) as usize;
    let base64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let v = vector(text, dims);
            let embedding = if base64 {
                // The OpenAI SDKs ask for base64 by default: little-endian f32s.
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens = input_tokens(body_len);
    Ok(json!({"object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
}

/// A unit vector derived from a hash of `text`, so equal inputs embed equally.
pub fn vector(text: &str, dims: usize) -> Vec<f32> {
    // FNV-1a seeds a splitmix64 sequence: cheap, stable across platforms and releases.
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let raw: Vec<f32> = (0..dims)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            (z >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        })
        .collect();
    let norm = raw
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::EPSILON);
    raw.into_iter().map(|x| x / norm).collect()
}

/// `POST /v1/images/generations`; `host` builds the URL for `response_format: url`.
pub fn images(req: &Value, host: &str) -> Result<Value, String> {
    if !req.get("prompt").is_some_and(Value::is_string) {
        return Err("'prompt' is a required property".into());
    }
    let n = req
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 10);
    let url = req.get("response_format").and_then(Value::as_str) == Some("url");
    let item = if url {
        json!({"url": format!("http://{host}/_fake/image.png")})
    } else {
        json!({"b64_json": PNG_BASE64})
    };
    Ok(json!({"created": now_ms() / 1000, "data": vec![item; n as usize]}))
}

/// `POST /v1/messages/count_tokens`; `Err` is a 400 message.
pub fn count_tokens(req: &Value, body_len: usize) -> Result<Value, String> {
    if !req.get("model").is_some_and(Value::is_string) {
        return Err("model: Field required".into());
    }
    if !req.get("messages").is_some_and(Value::is_array) {
        return Err("messages: Field required".into());
    }
    Ok(json!({"input_tokens": input_tokens(body_len)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_length() {
        let a = vector("hello", 8);
        assert_eq!(a, vector("hello", 8));
        assert_ne!(a, vector("hellp", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }

    #[test]
    fn png_decodes() {
        assert_eq!(&png_bytes()[1..4], b"PNG");
    }
}
