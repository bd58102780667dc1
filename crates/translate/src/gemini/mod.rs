//! Google Gemini `generateContent`: requests, responses, stream chunks and errors.

pub mod error;
mod ids;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;
mod view;

pub use ids::call_id;

/// Marks a thought signature as Gemini's, so it goes back to Gemini only: with failover
/// across providers one conversation can meet both vendors, and each rejects the other's.
pub const SIGNATURE_PREFIX: &str = "gemini:";

/// The upstream path for `model`, streaming or not.
pub fn path(model: &str, stream: bool) -> String {
    if stream {
        format!("/v1beta/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("/v1beta/models/{model}:generateContent")
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::StreamEvent;
    use crate::stream::Decode;

    #[test]
    fn usage_after_the_finish_still_counts() {
        let mut d = super::stream::Decoder::default();
        let mut events = Vec::new();
        d.feed(b"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":1}}\n\n", &mut events);
        assert_eq!(events.last(), Some(&StreamEvent::MessageStop));
        d.feed(
            b"data: {\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":2}}\n\n",
            &mut events,
        );
        d.finish(&mut events);
        assert_eq!(
            events.last(),
            Some(&StreamEvent::MessageStop),
            "nothing follows the stop"
        );
        assert_eq!(d.usage().map(|u| u.output_tokens), Some(2));
    }
}
