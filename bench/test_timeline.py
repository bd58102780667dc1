"""The timeline's parser and stream splitter on a recorded excerpt of `perf script` output."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import timeline  # noqa: E402

CLIENT, PROXY, API, UPSTREAM = 300, 100, 101, 200

# One stream through a proxy (pid 100, API thread 101) to an upstream (pid 200), as
# `perf script -F pid,tid,time,event,trace` prints it, with noise the splitter must skip: the
# proxy's timer thread waking, a failed recvfrom, and the upstream's epoll_wait that returned
# nothing.
EXCERPT = """\
300/301  1000.000100:     syscalls:sys_enter_sendto: fd: 0x00000005, buff: 0x1, len: 0x000000e8, flags: 0x00004000, addr: 0x00000000, addr_len: 0x00000000
100/102  1000.000105:  syscalls:sys_exit_epoll_wait: 0x1
100/101  1000.000130:  syscalls:sys_exit_epoll_wait: 0x1
100/101  1000.000131:   syscalls:sys_enter_recvfrom: fd: 0x0000000e, ubuf: 0x1, size: 0x00010000, flags: 0x00000000, addr: 0x00000000, addr_len: 0x00000000
100/101  1000.000133:    syscalls:sys_exit_recvfrom: 0xe8
100/101  1000.000140:     syscalls:sys_enter_writev: fd: 0x00000078, vec: 0x1, vlen: 0x00000002
100/101  1000.000150: syscalls:sys_enter_epoll_wait: epfd: 0x00000003, events: 0x1, maxevents: 0x00000400, timeout: 0xffffffff
200/201  1000.000160:  syscalls:sys_exit_epoll_wait: 0x0
200/201  1000.000170:  syscalls:sys_exit_epoll_wait: 0x1
200/201  1000.000172:    syscalls:sys_exit_recvfrom: 0xfffffffffffffff5
200/201  1000.000175:     syscalls:sys_enter_writev: fd: 0x00000018, vec: 0x1, vlen: 0x00000031
100/101  1000.000200:  syscalls:sys_exit_epoll_wait: 0x1
100/101  1000.000206:     syscalls:sys_enter_sendto: fd: 0x0000000e, buff: 0x1, len: 0x000002b9, flags: 0x00004000, addr: 0x00000000, addr_len: 0x00000000
100/101  1000.000221:     syscalls:sys_enter_sendto: fd: 0x0000000e, buff: 0x1, len: 0x000002cf, flags: 0x00004000, addr: 0x00000000, addr_len: 0x00000000
100/101  1000.000230:     syscalls:sys_enter_sendto: fd: 0x0000000e, buff: 0x1, len: 0x000002cf, flags: 0x00004000, addr: 0x00000000, addr_len: 0x00000000
"""


def test_parse_reads_ids_times_and_returns():
    events = timeline.parse(EXCERPT.splitlines() + ["", "garbage line", "1/2 3.0: cycles: 1"])
    assert len(events) == 15
    first = events[0]
    assert (first.pid, first.tid, first.call, first.enter) == (CLIENT, 301, "sendto", True)
    assert first.time == pytest.approx(1000.0001)
    failed = [e for e in events if e.call == "recvfrom" and not e.enter and e.pid == UPSTREAM]
    assert failed[0].ret == 0xFFFFFFFFFFFFFFF5


def test_one_stream_splits_into_its_segments():
    events = timeline.parse(EXCERPT.splitlines())
    assert timeline.client_pid(events, PROXY, UPSTREAM) == CLIENT
    # The API thread writes three times; the process's other thread only wakes.
    assert timeline.busiest_writer(events, lambda e: e.tid if e.pid == PROXY else None) == API
    [row] = timeline.streams(events, CLIENT, PROXY, UPSTREAM)
    expected = {
        "proxy wake-up": 30,  # the timer thread's wake at 105 is not the API thread's
        "proxy request work": 10,
        "upstream wake-up": 30,  # the empty epoll_wait at 160 is no wake-up
        "upstream work": 5,
        "proxy wake-up 2": 25,
        "proxy header work": 6,
        "header to first body": 15,
    }
    assert row == pytest.approx(expected)
    figures = timeline.summary([row])
    assert figures["total"] == pytest.approx(121)
    assert figures["streams"] == 1


def test_a_stream_missing_a_step_is_dropped():
    # Without the upstream's answer the proxy's later writes belong to no complete path.
    lines = [line for line in EXCERPT.splitlines() if not line.startswith("200/201")]
    assert timeline.streams(timeline.parse(lines), CLIENT, PROXY, UPSTREAM) == []


def test_each_client_write_starts_a_stream():
    first = EXCERPT.splitlines()
    # The same stream again 1 ms later: two rows, the second independent of the first.
    later = [line.replace("1000.000", "1000.001", 1) for line in first]
    rows = timeline.streams(timeline.parse(first + later), CLIENT, PROXY, UPSTREAM)
    assert len(rows) == 2
    assert rows[0] == pytest.approx(rows[1])
