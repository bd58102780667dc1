//! OpenAI Chat Completions: requests, responses, stream chunks and errors to and from the IR.

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod usage;
mod view;
