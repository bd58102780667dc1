#!/usr/bin/env python3
"""Where a stream's time to first frame goes, hop by hop, for each proxy at concurrency 1.

`perf.py` reports what a proxy adds to the time to first frame; this splits that time along
the request's path, from kernel syscall tracepoints recorded system-wide while one target
serves unpaced W3 at concurrency 1, on one clock for every process:

  proxy wake-up       the client writes its request -> the proxy's thread leaves epoll_wait
  proxy request work  -> the proxy writes the request upstream (first write)
  upstream wake-up    -> the upstream's thread leaves epoll_wait
  upstream work       -> the upstream writes its answer
  proxy wake-up 2     -> the proxy's thread leaves epoll_wait
  proxy header work   -> the proxy writes the answer's header to the client
  header to first body -> the proxy writes the first body bytes (Pingora flushes the
                         header of a stream on its own, then the body)

Wake-ups are where an idle vCPU pays to leave its halt: on a VM without guest halt polling,
tens of microseconds each, and a cost that depends on how long the vCPU has been idle; so two
proxies doing the same syscalls can differ there by more than their work differs.

  python3 bench/timeline.py                     P, G and G+R, release binaries
  options: --targets P,G --duration 2 --bin-dir DIR --json PATH

Needs `perf` (Debian: linux-perf) and the right to trace (root, or perf_event_paranoid <= -1).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import perf  # noqa: E402  (the services and load client of the benchmark)

TRACEPOINTS = [f"syscalls:{p}_{s}" for s in ("epoll_wait", "recvfrom", "sendto", "writev")
               for p in ("sys_enter", "sys_exit")]
# The Pingora-built targets: one process each, whose flushes the split below assumes.
PINGORA_TARGETS = ("P", "G", "G+R", "G-T")
SEGMENTS = ["proxy wake-up", "proxy request work", "upstream wake-up", "upstream work",
            "proxy wake-up 2", "proxy header work", "header to first body"]


@dataclass(frozen=True)
class Event:
    pid: int
    tid: int
    time: float  # seconds
    call: str  # epoll_wait, recvfrom, sendto, writev
    enter: bool
    ret: int | None  # on exit


def parse(lines) -> list[Event]:
    """Events from `perf script -F pid,tid,time,event,trace` lines."""
    events = []
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or "/" not in parts[0]:
            continue
        name = parts[2].rstrip(":").rsplit(":", 1)[-1]
        for prefix in ("sys_enter_", "sys_exit_"):
            if name.startswith(prefix):
                break
        else:
            continue
        pid, tid = (int(x) for x in parts[0].split("/"))
        enter = prefix == "sys_enter_"
        ret = None
        if not enter and len(parts) > 3:
            ret = int(parts[3], 0)
        events.append(Event(pid, tid, float(parts[1].rstrip(":")), name[len(prefix):], enter, ret))
    return events


def streams(events: list[Event], client: int, proxy: int, upstream: int) -> list[dict]:
    """Each stream's segments in microseconds. A stream starts with the client's request write
    and is kept only when every step of the path was seen, in order. Proxy events count only
    from the proxy's busiest writing thread, the one serving the client at concurrency 1."""
    proxy_tid = busiest_writer(events, lambda e: e.tid if e.pid == proxy else None)
    out = []
    requests = [i for i, e in enumerate(events) if e.pid == client and is_write(e)]
    for n, start in enumerate(requests):
        end = requests[n + 1] if n + 1 < len(requests) else len(events)
        marks = marks_of(events[start:end], proxy_tid, upstream)
        if marks is not None:
            t = [events[start].time, *marks]
            out.append({name: (t[k + 1] - t[k]) * 1e6 for k, name in enumerate(SEGMENTS)})
    return out


def is_write(e: Event) -> bool:
    return e.enter and e.call in ("sendto", "writev")


def is_wake(e: Event) -> bool:
    return not e.enter and e.call == "epoll_wait" and bool(e.ret)


def busiest_writer(events: list[Event], of) -> int:
    """The thread or process, as `of` maps an event to its tid or pid (None: not wanted), that
    issued the most socket writes."""
    counts: dict[int, int] = {}
    for e in events:
        who = of(e)
        if who is not None and is_write(e):
            counts[who] = counts.get(who, 0) + 1
    if not counts:
        raise RuntimeError("no socket writes of the wanted process were traced")
    return max(counts, key=counts.get)


def marks_of(span: list[Event], proxy_tid: int, upstream: int) -> list[float] | None:
    """The times after the request write at which each segment ends, or None when the span
    misses a step. The proxy's first two writes after its second wake-up are the header and
    the first body bytes: Pingora flushes the header of a stream on its own."""
    wanted = [
        lambda e: e.tid == proxy_tid and is_wake(e),
        lambda e: e.tid == proxy_tid and is_write(e),
        lambda e: e.pid == upstream and is_wake(e),
        lambda e: e.pid == upstream and is_write(e),
        lambda e: e.tid == proxy_tid and is_wake(e),
        lambda e: e.tid == proxy_tid and is_write(e),
        lambda e: e.tid == proxy_tid and is_write(e),
    ]
    marks = []
    for e in span:
        if wanted[len(marks)](e):
            marks.append(e.time)
            if len(marks) == len(wanted):
                return marks
    return None


def summary(rows: list[dict]) -> dict:
    figures = {name: statistics.median(r[name] for r in rows) for name in SEGMENTS}
    figures["total"] = statistics.median(sum(r[name] for name in SEGMENTS) for r in rows)
    figures["streams"] = len(rows)
    return figures


def record(bin_dir: Path, target: perf.Target, duration: float, tmp: Path) -> list[Event]:
    """Traces the whole machine while the load client runs unpaced W3 at concurrency 1."""
    data = tmp / f"{target.name}.perf"
    argv = ["perf", "record", "-q", "-a", "-o", str(data)]
    for point in TRACEPOINTS:
        argv += ["-e", point]
    load = perf.load_argv(bin_dir, target, "sse", "bench-chat", stream=True)
    load += ["--concurrency", "1", "--duration", str(duration)]
    done = subprocess.run(argv + ["--", *load], capture_output=True, text=True,
                          timeout=duration + 60)
    if done.returncode != 0:
        raise RuntimeError(f"perf record failed: {done.stderr.strip()[-400:]}")
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,time,event,trace"],
                            capture_output=True, text=True, check=True)
    return parse(script.stdout.splitlines())


def client_pid(events: list[Event], proxy: int, upstream: int) -> int:
    """The load client: besides the proxy and the upstream, the process that writes to sockets
    most (Redis and the access log write with `write`, which is not traced)."""
    return busiest_writer(events, lambda e: None if e.pid in (proxy, upstream) else e.pid)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default="P,G,G+R")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--bin-dir", type=Path, default=perf.REPO / "target" / "release")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    names = args.targets.split(",")
    unknown = [n for n in names if n not in PINGORA_TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; choose among {', '.join(PINGORA_TARGETS)}")
    if shutil.which("perf") is None:
        parser.error("perf is not installed (Debian: apt-get install linux-perf)")
    bin_dir = args.bin_dir.resolve()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bytespike-timeline-") as tmp:
        with perf.Services(bin_dir, Path(tmp), with_litellm=False) as services:
            # `taskset` execs what it starts: the pids it was given are the services' own.
            upstream_pid = services.procs[0].pid
            by_name = {t.name: t for t in services.targets}
            for name in names:
                target = by_name[name]
                perf.run_load(bin_dir, target, "sse", 1, 0.5)  # warm the pools
                proxy = target.procs[0].pid
                events = record(bin_dir, target, args.duration, Path(tmp))
                rows = streams(events, client_pid(events, proxy, upstream_pid), proxy,
                               upstream_pid)
                if not rows:
                    raise RuntimeError(f"{name}: no complete stream in the trace")
                results[name] = summary(rows)
    width = max(len(s) for s in SEGMENTS + ["total"])
    print(f"{'median, us':{width}}" + "".join(f"{n:>9}" for n in names))
    for segment in SEGMENTS + ["total", "streams"]:
        print(f"{segment:{width}}" + "".join(f"{results[n][segment]:9.0f}" for n in names))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
