//! Wire dialects of the LLM APIs the gateway speaks, and what every route needs from them.
//!
//! Pure code with no I/O: which dialect and operation a path is, errors rendered in each
//! caller's wire shape, incremental SSE framing, usage read from responses on the fly, and the
//! `model` field located and rewritten without re-serialising a body.

pub mod dialect;
pub mod endpoint;
pub mod error;
pub mod hidden_usage;
pub mod request;
pub mod sse;
pub mod usage;

pub use dialect::Dialect;
pub use endpoint::{Endpoint, Operation};
pub use error::{ErrorKind, GatewayError};
pub use request::{RequestEnvelope, RequestError};
pub use usage::{Usage, UsageScanner};
