//! Gemini `generateContent` bodies decoded into the IR, through the same logic as its stream.

use super::stream::Decoder;
use super::view::Chunk;
use crate::error::unreadable;
use crate::ir::{Collector, Response};
use crate::lenient;
use bytespike_protocol::GatewayError;

/// Decodes a Gemini response body.
pub fn decode(body: &[u8]) -> Result<Response, GatewayError> {
    let chunk = lenient::parse_body::<Chunk>(body).map_err(|e| unreadable(&e))?;
    let mut decoder = Decoder::default();
    let mut events = Vec::new();
    decoder.chunk(&chunk, &mut events);
    decoder.complete(None, &mut events);
    let mut collector = Collector::default();
    events.into_iter().for_each(|e| collector.push(e));
    collector.finish()
}
