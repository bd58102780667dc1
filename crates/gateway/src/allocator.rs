//! The process allocator: jemalloc, configured to hand freed memory back to the system.
//!
//! A small request allocates and frees about 130 blocks, many above the size glibc caches per
//! thread, so glibc's malloc took ~20% of the proxy's instructions (callgrind, W1 load) and kept
//! a burst's memory in its arenas long after the burst. jemalloc's thread caches serve those
//! sizes without locks or coalescing (~11% fewer instructions per request), and its decay
//! returns pages once a burst of streams has closed.

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this C string at start-up (`MALLOC_CONF` in the
/// environment still overrides it):
/// - `background_thread`: pages are purged by jemalloc's own threads, off the request path;
/// - `dirty_decay_ms:1000`: freed pages go back to the system about a second after a burst
///   (the default, ten seconds, holds a closed burst of streams in RSS for that long);
/// - `muzzy_decay_ms:0`: purged pages are released at once rather than kept lazily.
#[export_name = "malloc_conf"]
pub static MALLOC_CONF: &u8 = &b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0];
