//! The process allocator: jemalloc, configured to hand freed memory back to the system.
//!
//! A small request allocates and frees about 130 blocks, many above the size glibc caches per
//! thread, so glibc's malloc took ~20% of the proxy's instructions (callgrind, W1 load) and kept
//! a burst's memory in its arenas long after the burst. jemalloc's thread caches serve those
//! sizes without locks or coalescing (~11% fewer instructions per request), and its decay
//! returns pages once a burst of streams has closed, including what a worker's thread cache
//! held, once the worker hands it back ([`release_thread_cache`]).

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

/// Hands the calling thread's jemalloc cache back to the arenas, whose background threads then
/// return the emptied pages to the system. jemalloc collects a thread's cache only as that
/// thread allocates, so after a burst an idle worker kept what the burst freed: 8-9 MiB after
/// 2,000 streams, a third of the process.
pub fn release_thread_cache() {
    // jemalloc refuses only when thread caches are off, which leaves nothing to hand back.
    let _ = flush_thread_cache();
}

/// Whether jemalloc flushed the calling thread's cache.
fn flush_thread_cache() -> bool {
    // SAFETY: `thread.tcache.flush` reads and writes no value, so every pointer may be null;
    // the name is a NUL-terminated C string.
    let status = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"thread.tcache.flush".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    status == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_cache_is_handed_back() {
        // Fill this thread's cache, then hand it back: jemalloc knows the control by this name.
        let blocks: Vec<Vec<u8>> = (0..256).map(|i| vec![0u8; 64 + i]).collect();
        drop(blocks);
        assert!(flush_thread_cache());
    }
}
