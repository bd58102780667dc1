"""A Kubernetes API server emulated over real HTTP, for the gateway's `--kubernetes` mode.

Built on kmock's stateful `KubernetesEmulator` (list, watch, get, create, merge-patch, delete over
aiohttp), extended with what a kube-rs client relies on and kmock leaves out:

- every write stamps a fresh `metadata.resourceVersion` (kube's watcher refuses objects without
  one) and lists report the current one;
- `metadata.generation` starts at 1 and grows when `spec` changes outside the status subresource;
- a merge patch carrying `metadata.resourceVersion` is refused with 409 when it is stale, the
  optimistic lock the Lease election relies on;
- every request is recorded with its User-Agent, so tests can tell which replica wrote what.

The server runs on its own asyncio loop in a thread; tests drive it with plain HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import kmock
from kmock._internal import enums
from kmock._internal.k8s import KubernetesObjectConflictError

GROUP_VERSION = "gateway.bytespike.ai/v1alpha1"
PLURALS = {
    "Provider": f"/apis/{GROUP_VERSION}/namespaces/{{ns}}/providers",
    "RoutingGroup": f"/apis/{GROUP_VERSION}/namespaces/{{ns}}/routinggroups",
    "ApiKey": f"/apis/{GROUP_VERSION}/namespaces/{{ns}}/apikeys",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Lease": "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
    "Event": "/apis/events.k8s.io/v1/namespaces/{ns}/events",
}
RESOURCES = [
    f"{GROUP_VERSION}/providers",
    f"{GROUP_VERSION}/routinggroups",
    f"{GROUP_VERSION}/apikeys",
    "v1/secrets",
    "coordination.k8s.io/v1/leases",
    "events.k8s.io/v1/events",
]


class Emulator(kmock.KubernetesEmulator):
    """kmock's emulator plus resource versions, generations, stale-write refusal and a log."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.versions = itertools.count(1)
        self.current_version = 0
        self.log: list[dict[str, Any]] = []
        self.log_lock = threading.Lock()

    def _stamp(self) -> str:
        self.current_version = next(self.versions)
        return str(self.current_version)

    async def _handle(self, request):  # type: ignore[override]
        with self.log_lock:
            self.log.append(
                {
                    "method": str(request.method.value if request.method else ""),
                    "path": request.url.path,
                    "user_agent": request.headers.get("User-Agent", ""),
                    "subresource": request.subresource,
                    "data": request.data,
                }
            )
        if request.resource is not None and isinstance(request.data, dict):
            if request.action == enums.action.CREATE:
                meta = request.data.setdefault("metadata", {})
                meta["resourceVersion"] = self._stamp()
                meta.setdefault("generation", 1)
                meta.setdefault("uid", f"uid-{self.current_version}")
                if request.namespace and "namespace" not in meta:
                    meta["namespace"] = request.namespace
            elif request.action == enums.action.UPDATE:
                stored = self._stored(request)
                if stored is not None:
                    expected = (request.data.get("metadata") or {}).get("resourceVersion")
                    actual = stored.get("metadata", {}).get("resourceVersion")
                    if expected is not None and expected != actual:
                        raise kmock.KubernetesError(
                            status=409, reason="Conflict", message="the object has been modified"
                        )
                    meta = request.data.setdefault("metadata", {})
                    meta["resourceVersion"] = self._stamp()
                    if request.subresource is None and "spec" in request.data:
                        meta["generation"] = stored.get("metadata", {}).get("generation", 1) + 1
        return await super()._handle(request)

    async def _render_error(self, exc):  # type: ignore[override]
        # Clients branch on the standard reasons (kube's `get_opt` on "NotFound"); kmock's own
        # reasons are descriptive phrases instead.
        response = await super()._render_error(exc)
        standard = {404: "NotFound", 409: "Conflict"}.get(response.status)
        if isinstance(exc, KubernetesObjectConflictError):
            standard = "AlreadyExists"
        if standard is not None:
            body = json.loads(response.body)
            body["reason"] = standard
            body.pop("details", None)
            response.body = json.dumps(body).encode()
        return response

    def _stored(self, request) -> dict | None:
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return self.objects[key].raw

    async def _serve_list(self, request):  # type: ignore[override]
        listing = await super()._serve_list(request)
        listing["metadata"]["resourceVersion"] = str(self.current_version)
        return listing


class KubeServer:
    """The emulator served on a loopback port from a background thread, with a sync client."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.emulator: Emulator | None = None
        self.url = ""
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the Kubernetes emulator did not start")
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with Emulator() as emulator, kmock.Server(emulator) as server:
            for resource in RESOURCES:
                emulator.resources[resource] = {"namespaced": True}
            self.emulator = emulator
            self.url = str(server.url).rstrip("/")
            self._ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        self.http.close()
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def write_kubeconfig(self, path: Path, namespace: str) -> Path:
        path.write_text(
            "\n".join(
                [
                    "apiVersion: v1",
                    "kind: Config",
                    "clusters:",
                    f"- name: emulated\n  cluster: {{server: '{self.url}'}}",
                    "users:",
                    "- name: tester\n  user: {token: emulated-token}",
                    "contexts:",
                    f"- name: emulated\n  context: {{cluster: emulated, user: tester, namespace: {namespace}}}",
                    "current-context: emulated",
                ]
            )
            + "\n"
        )
        return path

    # -----------------------------------------------------------------------------------------
    # Objects

    def create(self, kind: str, namespace: str, obj: dict) -> dict:
        obj.setdefault("metadata", {})["namespace"] = namespace
        response = self.http.post(PLURALS[kind].format(ns=namespace), json=obj)
        response.raise_for_status()
        return response.json()

    def patch(self, kind: str, namespace: str, name: str, patch: dict) -> dict:
        response = self.http.patch(
            f"{PLURALS[kind].format(ns=namespace)}/{name}",
            json=patch,
            headers={"content-type": "application/merge-patch+json"},
        )
        response.raise_for_status()
        return response.json()

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.http.delete(f"{PLURALS[kind].format(ns=namespace)}/{name}").raise_for_status()

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        response = self.http.get(f"{PLURALS[kind].format(ns=namespace)}/{name}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def requests(self) -> list[dict[str, Any]]:
        assert self.emulator is not None
        with self.emulator.log_lock:
            return list(self.emulator.log)
