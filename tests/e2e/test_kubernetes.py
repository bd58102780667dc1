"""The gateway in `--kubernetes` mode against an emulated API server: objects applied, changed and
deleted take effect within seconds, invalid objects are reported in their status without
disturbing the rest, and only the Lease holder writes status."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from harness import (
    ANTHROPIC_CREDENTIAL,
    GATEWAY_BIN,
    START_TIMEOUT,
    free_port,
    require_binaries,
    stop_process,
    wait_until,
)
from kube_emulator import GROUP_VERSION, KubeServer

NS = "team"
LEASE = "bytespike-gateway-status"
EFFECT = 2.0  # how soon a change must be visible on the request path
STATUS = 5.0


class KubeGateway:
    """A `bytespike-gateway --kubernetes` process pointed at the emulator."""

    def __init__(self, workdir: Path, kubeconfig: Path, identity: str, wait_ready: bool = True):
        self.identity = identity
        port, admin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.log_path = workdir / f"kube-gateway-{identity}.log"
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, RUST_LOG="info", KUBECONFIG=str(kubeconfig))
        env.pop("BYTESPIKE_CONFIG", None)
        self.proc = subprocess.Popen(
            [
                str(GATEWAY_BIN),
                "--kubernetes",
                "--namespace",
                NS,
                "--identity",
                identity,
                "--lease-namespace",
                NS,
                "--lease-duration",
                "3s",
                "--listen",
                f"127.0.0.1:{port}",
                "--admin-listen",
                f"127.0.0.1:{admin_port}",
                "--threads",
                "2",
                "--status-refresh",
                "1s",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        if wait_ready:
            wait_until(lambda: self.readyz() == 200, START_TIMEOUT, f"{identity}'s /readyz")

    def readyz(self) -> int:
        if self.proc.poll() is not None:
            pytest.fail(
                f"gateway {self.identity} exited with {self.proc.returncode}: "
                f"{self.log_path.read_text()[-3000:]}",
                pytrace=False,
            )
        try:
            return httpx.get(f"{self.admin_url}/readyz", timeout=2).status_code
        except httpx.TransportError:
            return 0

    def call(self, key: str) -> int:
        response = httpx.post(
            f"{self.url}/v1/messages",
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            json={
                "model": "claude-sonnet-4-6",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "hello"}],
            },
            timeout=10,
        )
        return response.status_code

    def metrics(self) -> str:
        return httpx.get(f"{self.admin_url}/metrics", timeout=2).text

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


# ---------------------------------------------------------------------------------------------
# Objects


def provider(name: str, base_url: str) -> dict:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "Provider",
        "metadata": {"name": name},
        "spec": {
            "protocol": "anthropic",
            "baseUrl": base_url,
            "credentials": {"secretRef": {"name": "vendor-credentials", "key": "anthropic"}},
        },
    }


def routing_group(name: str, provider_name: str) -> dict:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "RoutingGroup",
        "metadata": {"name": name},
        "spec": {
            "models": [
                {
                    "id": "claude-sonnet-4-6",
                    "targets": [{"provider": provider_name, "model": "claude-upstream"}],
                }
            ]
        },
    }


def secret(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def api_key(name: str, groups: list[str], **spec) -> dict:
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ApiKey",
        "metadata": {"name": name},
        "spec": {"routingGroups": groups, "secretRef": {"name": f"{name}-key", "key": "key"}, **spec},
    }


def add_key(kube: KubeServer, name: str, material: str, groups: list[str] | None = None) -> None:
    kube.create("Secret", NS, secret(f"{name}-key", key=material))
    kube.create("ApiKey", NS, api_key(name, groups or ["main"]))


def condition(obj: dict | None, type_: str) -> dict | None:
    for c in ((obj or {}).get("status") or {}).get("conditions") or []:
        if c["type"] == type_:
            return c
    return None


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def kube(fake):
    server = KubeServer()
    server.create("Secret", NS, secret("vendor-credentials", anthropic=ANTHROPIC_CREDENTIAL))
    server.create("Provider", NS, provider("anthropic", fake.url))
    server.create("RoutingGroup", NS, routing_group("main", "anthropic"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def kubeconfig(kube, workdir) -> Path:
    return kube.write_kubeconfig(workdir / "kubeconfig", NS)


@pytest.fixture(scope="module")
def replica_a(kube, kubeconfig, workdir):
    require_binaries()
    gw = KubeGateway(workdir, kubeconfig, "replica-a")
    yield gw
    gw.stop()


# ---------------------------------------------------------------------------------------------
# Tests


def test_not_ready_until_the_first_sync(workdir):
    require_binaries()
    unreachable = workdir / "kubeconfig-unreachable"
    unreachable.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{free_port()}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u, namespace: team}}]\n"
        "current-context: x\n"
    )
    gw = KubeGateway(workdir, unreachable, "unsynced", wait_ready=False)
    try:
        wait_until(lambda: gw.readyz() == 503, START_TIMEOUT, "the admin listener")
        time.sleep(2)
        assert gw.readyz() == 503
    finally:
        gw.stop()


def test_created_key_works_and_gets_ready_status(kube, replica_a):
    add_key(kube, "created", "bsk-kube-created-1")
    wait_until(lambda: replica_a.call("bsk-kube-created-1") == 200, EFFECT, "the new key to work")
    ready = wait_until(
        lambda: condition(kube.get("ApiKey", NS, "created"), "Ready"), STATUS, "Ready condition"
    )
    assert ready["status"] == "True" and ready["reason"] == "Accepted"
    status = kube.get("ApiKey", NS, "created")["status"]
    assert status["observedGeneration"] == 1
    # No limiter usage is wired: nothing made up is written.
    assert "usage" not in status
    group = wait_until(
        lambda: (kube.get("RoutingGroup", NS, "main").get("status") or {}).get("modelCount"),
        STATUS,
        "the group's model count",
    )
    assert group == 1


def test_disabled_key_stops(kube, replica_a):
    add_key(kube, "to-disable", "bsk-kube-disable-2")
    wait_until(lambda: replica_a.call("bsk-kube-disable-2") == 200, EFFECT, "the key to work")
    kube.patch("ApiKey", NS, "to-disable", {"spec": {"disabled": True}})
    wait_until(lambda: replica_a.call("bsk-kube-disable-2") in (401, 403), EFFECT, "refusal")


def test_deleted_key_stops(kube, replica_a):
    add_key(kube, "to-delete", "bsk-kube-delete-3")
    wait_until(lambda: replica_a.call("bsk-kube-delete-3") == 200, EFFECT, "the key to work")
    kube.delete("ApiKey", NS, "to-delete")
    wait_until(lambda: replica_a.call("bsk-kube-delete-3") == 401, EFFECT, "refusal")


def test_rotated_secret_replaces_the_key(kube, replica_a):
    add_key(kube, "to-rotate", "bsk-kube-rotate-old")
    wait_until(lambda: replica_a.call("bsk-kube-rotate-old") == 200, EFFECT, "the key to work")
    kube.patch("Secret", NS, "to-rotate-key", {"stringData": {"key": "bsk-kube-rotate-new"}})
    wait_until(lambda: replica_a.call("bsk-kube-rotate-new") == 200, EFFECT, "the new key")
    assert replica_a.call("bsk-kube-rotate-old") == 401


def test_invalid_group_is_reported_while_others_serve(kube, replica_a):
    add_key(kube, "steady", "bsk-kube-steady-4")
    wait_until(lambda: replica_a.call("bsk-kube-steady-4") == 200, EFFECT, "the key to work")
    kube.create("RoutingGroup", NS, routing_group("broken", "no-such-provider"))
    invalid = wait_until(
        lambda: condition(kube.get("RoutingGroup", NS, "broken"), "Invalid"),
        STATUS,
        "the Invalid condition",
    )
    assert invalid["status"] == "True"
    assert invalid["reason"] == "UnknownProvider"
    assert 'unknown Provider "no-such-provider"' in invalid["message"]
    assert condition(kube.get("RoutingGroup", NS, "broken"), "Ready")["status"] == "False"
    assert replica_a.call("bsk-kube-steady-4") == 200
    # An Event tells whoever runs `kubectl describe`.
    events = [
        r["data"]
        for r in kube.requests()
        if r["method"] == "POST" and r["path"].endswith("/events")
    ]
    assert any(
        e.get("reason") == "UnknownProvider" and e["regarding"]["name"] == "broken" for e in events
    ), events
    metrics = replica_a.metrics()
    assert 'bytespike_config_objects{kind="RoutingGroup",validity="invalid"} 1' in metrics
    assert "bytespike_controller_leader 1" in metrics


def test_key_status_shows_its_window_usage(kube, replica_a):
    kube.create("Secret", NS, secret("metered-key", key="bsk-kube-metered-1"))
    limits = [{"window": "5h", "requests": 100, "costUsd": "5"}, {"window": "1d", "tokens": 100000}]
    kube.create("ApiKey", NS, api_key("metered", ["main"], limits=limits))
    wait_until(lambda: replica_a.call("bsk-kube-metered-1") == 200, EFFECT, "the metered key to work")
    assert replica_a.call("bsk-kube-metered-1") == 200

    def usage():
        windows = (kube.get("ApiKey", NS, "metered").get("status") or {}).get("usage") or []
        return windows if windows and windows[0]["requests"] == 2 else None

    windows = wait_until(usage, STATUS, "status.usage to count both requests")
    five_hours = next(w for w in windows if w["window"] == "5h")
    assert five_hours["limitRequests"] == 100 and five_hours["limitCostUsd"] == "5.000000"
    assert five_hours["tokens"] > 0 and five_hours["resetsAt"]
    one_day = next(w for w in windows if w["window"] == "1d")
    assert one_day["limitTokens"] == 100000 and one_day["requests"] == 2


def test_only_the_lease_holder_writes_status(kube, kubeconfig, workdir, replica_a):
    holder = wait_until(
        lambda: ((kube.get("Lease", NS, LEASE) or {}).get("spec") or {}).get("holderIdentity"),
        STATUS,
        "the Lease to be held",
    )
    assert holder == "replica-a"
    replica_b = KubeGateway(workdir, kubeconfig, "replica-b")
    try:
        # Replica B serves from the same objects...
        add_key(kube, "both", "bsk-kube-both-5")
        wait_until(lambda: replica_b.call("bsk-kube-both-5") == 200, EFFECT, "B to serve it")
        kube.create("RoutingGroup", NS, routing_group("broken-too", "missing"))
        wait_until(
            lambda: condition(kube.get("RoutingGroup", NS, "broken-too"), "Invalid"),
            STATUS,
            "status on the new invalid group",
        )
        time.sleep(1)  # give a wrongly writing replica B the chance to show itself
        # ...but only A writes status.
        writes = [r for r in kube.requests() if r["subresource"] == "status"]
        assert writes and all("replica-a" in w["user_agent"] for w in writes), writes
        assert "bytespike_controller_leader 0" in replica_b.metrics()
        assert kube.get("Lease", NS, LEASE)["spec"]["holderIdentity"] == "replica-a"

        # When A goes away, B takes the Lease over and writes from then on.
        replica_a.stop()
        wait_until(
            lambda: kube.get("Lease", NS, LEASE)["spec"].get("holderIdentity") == "replica-b",
            10,
            "replica B to take the Lease over",
        )
        kube.create("RoutingGroup", NS, routing_group("broken-later", "missing"))
        wait_until(
            lambda: condition(kube.get("RoutingGroup", NS, "broken-later"), "Invalid"),
            STATUS,
            "B to write status",
        )
        later = [r for r in kube.requests() if r["subresource"] == "status"][len(writes) :]
        assert later and all("replica-b" in w["user_agent"] for w in later)
    finally:
        replica_b.stop()

