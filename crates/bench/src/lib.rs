//! Shared pieces of the performance harness (`bench/perf.py` drives the binaries):
//! canned upstream responses, latency statistics, SSE frame counting and the load client's
//! HTTP/1.1 connections.

pub mod canned;
pub mod client;
pub mod idle;
pub mod load;
pub mod sse;
pub mod stats;
