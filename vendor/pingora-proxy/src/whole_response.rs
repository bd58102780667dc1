//! PATCH(bytespike): responses sent whole, header and body in one write.
//!
//! When the response filters produce a body only at its end (the gateway re-encodes a
//! non-streamed answer from one protocol into another), the header has no length to give. Sent
//! as it comes, it is flushed at once, then the body goes as one chunk and the last chunk after
//! it, each flushed: three writes and three wake-ups of the client for one answer. Held back
//! until the body ends, the header leaves with it in one write, framed by `Content-Length`.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora_core::protocols::http::HttpTask;
use pingora_error::Result;
use pingora_http::ResponseHeader;

/// A final response header held back, and the body the filters produced after it so far.
pub struct HeldResponse {
    header: Box<ResponseHeader>,
    /// The body while it is one chunk: kept as it came, without a copy.
    body: Bytes,
    /// The body once a second chunk came.
    joined: Option<BytesMut>,
}

impl HeldResponse {
    fn append(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        if let Some(joined) = self.joined.as_mut() {
            joined.extend_from_slice(&data);
        } else if self.body.is_empty() {
            self.body = data;
        } else {
            let mut joined = BytesMut::with_capacity(self.body.len() + data.len());
            joined.extend_from_slice(&std::mem::take(&mut self.body));
            joined.extend_from_slice(&data);
            self.joined = Some(joined);
        }
    }

    fn release(self: Box<Self>, out: &mut Vec<HttpTask>) -> Result<()> {
        let HeldResponse {
            mut header,
            body,
            joined,
        } = *self;
        let body = joined.map_or(body, BytesMut::freeze);
        header.remove_header(&TRANSFER_ENCODING);
        header.insert_header(CONTENT_LENGTH, body.len())?;
        if body.is_empty() {
            out.push(HttpTask::Header(header, true));
        } else {
            out.push(HttpTask::Header(header, false));
            out.push(HttpTask::Body(Some(body), true));
        }
        Ok(())
    }
}

/// Passes `tasks` on, except that a final response header is held back when `hold` says so
/// (asked only when such a header comes), and the body after a held header is collected until
/// it ends; then both are released as one header with `Content-Length` and one terminal body
/// task. A failure drops what was held: no byte of the response has reached the client, so the
/// error can still be answered in full. A batch with nothing to hold, as every batch of a
/// response not held is, passes as it came.
pub fn hold_or_release(
    held: &mut Option<Box<HeldResponse>>,
    tasks: Vec<HttpTask>,
    hold: impl FnOnce() -> bool,
) -> Result<Vec<HttpTask>> {
    if held.is_none() {
        let final_header = tasks
            .iter()
            .any(|t| matches!(t, HttpTask::Header(h, false) if !h.status.is_informational()));
        if !final_header || !hold() {
            return Ok(tasks);
        }
    }
    let mut hold_header = held.is_none();
    let mut out = Vec::with_capacity(tasks.len().max(2));
    for task in tasks {
        let Some(response) = held.as_mut() else {
            match task {
                HttpTask::Header(header, false)
                    if hold_header && !header.status.is_informational() =>
                {
                    hold_header = false;
                    *held = Some(Box::new(HeldResponse {
                        header,
                        body: Bytes::new(),
                        joined: None,
                    }));
                }
                task => out.push(task),
            }
            continue;
        };
        let end = match task {
            HttpTask::Body(data, end) => {
                if let Some(data) = data {
                    response.append(data);
                }
                end
            }
            HttpTask::Trailer(_) | HttpTask::Done => true,
            task @ HttpTask::Failed(_) => {
                *held = None;
                out.push(task);
                continue;
            }
            // Neither follows a final header of a response that was no upgrade; pass it on
            // behind what was held so that the session rejects it as it would have.
            task @ (HttpTask::Header(..) | HttpTask::UpgradedBody(..)) => {
                if let Some(response) = held.take() {
                    response.release(&mut out)?;
                }
                out.push(task);
                continue;
            }
        };
        if end {
            if let Some(response) = held.take() {
                response.release(&mut out)?;
            }
        }
    }
    Ok(out)
}
