//! Wire-level tests: the fake provider served in-process, driven over real HTTP connections.

mod anthropic;
mod client;
mod control;
mod gemini;
mod openai_chat;
mod openai_misc;
mod responses;
