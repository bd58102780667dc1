//! The internal representation every wire protocol decodes into and encodes from.

mod collect;
mod request;
mod response;
mod stream;
pub mod thinking;

pub use collect::Collector;
pub use request::{
    ImageSource, Message, OutputFormat, Part, Request, Role, SystemBlock, Thinking, Tool,
    ToolChoice,
};
pub use response::{Response, StopReason};
pub use stream::{BlockStart, Delta, StreamEvent};
pub use thinking::Effort;
