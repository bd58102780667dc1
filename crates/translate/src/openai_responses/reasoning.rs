//! Reasoning carried through a reasoning item's `encrypted_content`, so it survives a round trip.
//!
//! Anthropic verifies the thinking it gets back: the exact text and its signature must return
//! together. A Responses client shows a summary (or nothing) and hands back the reasoning item
//! verbatim, `encrypted_content` included, so that field carries both: `ir1.` followed by the
//! unpadded base64url of `{"t": text, "s": signature}` (or `{"r": data}` for redacted
//! thinking). Content that is not in this form (OpenAI's own) cannot be read and is left out.

use crate::ir::Part;
use serde_json::{json, Value};

const PREFIX: &str = "ir1.";
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The `encrypted_content` for a reasoning part; `None` for parts with nothing to carry.
pub(crate) fn seal(part: &Part) -> Option<String> {
    let inner = match part {
        Part::Thinking { text, signature } => {
            if text.is_empty() && signature.as_deref().is_none_or(str::is_empty) {
                return None;
            }
            match signature {
                Some(s) if !s.is_empty() => json!({"t": text, "s": s}),
                _ => json!({"t": text}),
            }
        }
        Part::RedactedThinking { data } => json!({"r": data}),
        _ => return None,
    };
    Some(format!("{PREFIX}{}", encode(inner.to_string().as_bytes())))
}

/// The reasoning part an `encrypted_content` carries, if this gateway wrote it.
pub(crate) fn open(content: &str) -> Option<Part> {
    let bytes = decode(content.strip_prefix(PREFIX)?)?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_string);
    if let Some(data) = text("r") {
        return Some(Part::RedactedThinking { data });
    }
    Some(Part::Thinking {
        text: text("t")?,
        signature: text("s").filter(|s| !s.is_empty()),
    })
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            let v = ALPHABET.iter().position(|a| a == c)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_every_length() {
        let data: Vec<u8> = (0..=255).collect();
        for len in 0..40 {
            let enc = encode(&data[200 - len..200]);
            assert!(!enc.contains('='));
            assert_eq!(decode(&enc).as_deref(), Some(&data[200 - len..200]));
        }
        assert_eq!(encode(b"Man"), "TWFu");
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("A"), None);
        assert_eq!(decode("A=="), None);
    }

    #[test]
    fn thinking_and_redacted_thinking_survive() {
        let parts = [
            Part::Thinking {
                text: "Paris is in France. ✓".into(),
                signature: Some("EqQBCkYIBRgCKkA".into()),
            },
            Part::Thinking {
                text: "unsigned".into(),
                signature: None,
            },
            Part::RedactedThinking {
                data: "EmwKAhgBEgy".into(),
            },
        ];
        for part in parts {
            let sealed = seal(&part).unwrap();
            assert!(sealed.starts_with("ir1."));
            assert_eq!(open(&sealed), Some(part));
        }
    }

    #[test]
    fn foreign_or_empty_content_is_not_read() {
        assert_eq!(open("gAAAAABo-opaque"), None);
        assert_eq!(open("ir1.!!!!"), None);
        assert_eq!(open(&format!("ir1.{}", encode(b"[1]"))), None);
        let empty = Part::Thinking {
            text: String::new(),
            signature: None,
        };
        assert_eq!(seal(&empty), None);
    }
}
