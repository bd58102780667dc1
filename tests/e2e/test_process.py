"""The gateway process itself: its allocator runs with the options the binary sets."""

from __future__ import annotations

from pathlib import Path

from harness import wait_until


def thread_names(pid: int) -> list[str]:
    return [
        (task / "comm").read_text().strip()
        for task in Path(f"/proc/{pid}/task").iterdir()
        if (task / "comm").exists()
    ]


def test_allocator_purges_freed_memory_on_its_own_thread(gateway):
    # jemalloc starts its purging thread only when it has read the binary's `malloc_conf`
    # (`background_thread:true`); a symbol it does not recognise is ignored silently, and
    # memory freed after a burst would then be returned only on the request path.
    pid = gateway.proc.pid
    wait_until(
        lambda: "jemalloc_bg_thd" in thread_names(pid),
        10,
        "jemalloc's background purging thread",
    )
    assert gateway.proc.poll() is None
