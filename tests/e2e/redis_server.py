"""Real `redis-server` processes for the limit tests: one server, or a three-master cluster, on
free loopback ports, plus a small RESP client to read what the gateway wrote.

Servers run without persistence in their own directory under the test's workdir. A server can
be stopped and started again on the same port (an outage, then recovery). The client follows
`MOVED` redirections, so reading a key of a cluster works from any node.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from harness import free_port, wait_until

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def require_redis() -> None:
    """Skips the module when Redis is not installed (the limit tests need a real server)."""
    if not REDIS_SERVER or not REDIS_CLI:
        pytest.skip("redis-server and redis-cli are needed for the limit tests")


class RedisError(Exception):
    """An error reply (`-ERR ...`)."""


def _encode(args: tuple) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(f"${len(data)}\r\n".encode() + data + b"\r\n")
    return b"".join(out)


class _Reader:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise ConnectionError(f"unexpected RESP line {line!r}")


def command(port: int, *args, timeout: float = 2.0, follow: bool = True):
    """Runs one command on 127.0.0.1:`port`, following a `MOVED` redirection unless `follow` is
    false (then the redirection is an error)."""
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(_encode(args))
            reply = _Reader(sock).reply()
        if follow and isinstance(reply, RedisError) and str(reply).startswith("MOVED "):
            port = int(str(reply).split()[2].rsplit(":", 1)[1])
            continue
        if isinstance(reply, RedisError):
            raise reply
        return reply
    raise RedisError(f"too many redirections for {args[0]}")


class RedisServer:
    """One `redis-server` on a free loopback port; `stop()` and `start()` keep the port."""

    def __init__(self, workdir: Path, *extra: str, port: int | None = None):
        require_redis()
        self.port = port or free_port()
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.dir),
                *self.extra,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, 10, f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(
                f"redis-server exited with {self.proc.returncode}: "
                f"{(self.dir / 'redis.log').read_text()[-1500:]}",
                pytrace=False,
            )
        try:
            return self.cmd("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def stop(self) -> None:
        """Kills the server outright (an outage, not a graceful shutdown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def cmd(self, *args):
        return command(self.port, *args)


def _cluster_port() -> int:
    """A free port Redis accepts for a cluster node (at most 55535)."""
    while (port := free_port()) > 55535:
        pass
    return port


class RedisCluster:
    """Three masters (no replicas) on free loopback ports, with every slot assigned."""

    def __init__(self, workdir: Path, masters: int = 3):
        require_redis()
        self.nodes = [
            RedisServer(
                workdir,
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "2000",
                # The bus port defaults to port + 10000, which may be taken or out of range.
                "--cluster-port", str(free_port()),
                port=_cluster_port(),
            )
            for _ in range(masters)
        ]
        created = subprocess.run(
            [REDIS_CLI, "--cluster", "create",
             *[f"127.0.0.1:{n.port}" for n in self.nodes],
             "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if created.returncode != 0:
            self.stop()
            pytest.fail(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
        wait_until(self._ready, 20, "every cluster node to report cluster_state:ok")

    def _ready(self) -> bool:
        return all("cluster_state:ok" in n.cmd("CLUSTER", "INFO") for n in self.nodes)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def cmd(self, *args):
        """A command on the node owning its key (redirections followed)."""
        return self.nodes[0].cmd(*args)

    def owner_port(self, key: str) -> int:
        """The port of the master serving `key`'s slot."""
        slot = self.nodes[0].cmd("CLUSTER", "KEYSLOT", key)
        for start, end, master, *_ in self.nodes[0].cmd("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError(f"no master serves slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
