"""Graceful shutdown: on SIGTERM the gateway stops taking connections and turns not ready, lets a
stream in flight finish, settles its usage once, and exits as soon as that is done rather than
at the end of its grace period."""

from __future__ import annotations

import signal
import threading
import time

import anthropic
import httpx
import pytest

from harness import FakeProvider, Gateway, provider_yaml, ANTHROPIC_CREDENTIAL
from limit_checks import ledger
from redis_server import RedisServer

KEY = "bsk-e2e-shutdown-7a12"


@pytest.fixture
def slow_fake(workdir):
    # 100 ms between stream frames: a 20-word answer streams for about two seconds.
    fake = FakeProvider(workdir, name="fake-slow", extra_args=("--frame-delay-ms", "100"))
    yield fake
    fake.stop()


def write_config(config_dir, fake_url: str) -> None:
    config_dir.mkdir(exist_ok=True)
    (config_dir / "config.yaml").write_text(
        provider_yaml("slow", "anthropic", fake_url, "anthropic")
        + "---\napiVersion: v1\nkind: Secret\nmetadata: {name: vendor-credentials}\n"
        f"stringData: {{anthropic: {ANTHROPIC_CREDENTIAL}}}\n"
        "---\napiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\nmetadata: {name: g}\n"
        "spec:\n  models:\n    - id: slow-model\n      targets: [{provider: slow, model: slow-upstream}]\n"
        '      pricing: {input: "3.00", output: "15.00"}\n'
        "---\napiVersion: v1\nkind: Secret\nmetadata: {name: shutdown-key}\n"
        f"stringData: {{key: {KEY}}}\n"
        "---\napiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {name: shutdown}\n"
        "spec:\n  routingGroups: [g]\n  secretRef: {name: shutdown-key, key: key}\n"
        "  limits: [{window: 5h, requests: 100}]\n"
    )


def test_stream_in_flight_finishes_is_billed_once_and_the_process_exits_early(workdir, slow_fake):
    redis = RedisServer(workdir)
    config_dir = workdir / "shutdown-config"
    write_config(config_dir, slow_fake.url)
    # A flush interval far past the test's length: only the flush on exit can write the
    # stream's access-log line.
    gw = Gateway(workdir, config_dir, "--redis-url", redis.url, "--shutdown-grace-period", "60s",
                 "--access-log-flush-interval", "300s")
    try:
        client = anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=30)
        result: dict = {}

        def stream():
            with client.messages.stream(
                model="slow-model", max_tokens=200, messages=[{"role": "user", "content": "[[words:20]]"}]
            ) as s:
                result["message"] = s.get_final_message()

        worker = threading.Thread(target=stream)
        worker.start()
        # Let the stream start, then ask the gateway to stop.
        time.sleep(0.6)
        assert gw.proc.poll() is None
        sent = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)

        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{gw.admin_url}/readyz", timeout=2)
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{gw.url}/v1/models", headers={"x-api-key": KEY}, timeout=2)

        worker.join(timeout=20)
        assert "message" in result, "the stream in flight completed"
        message = result["message"]
        assert message.stop_reason == "end_turn" and message.usage.output_tokens == 20

        gw.proc.wait(timeout=20)
        took = time.monotonic() - sent
        assert gw.proc.returncode == 0
        assert took < 15, f"the process left {took:.1f}s after SIGTERM, not at the end of its 60s grace"

        records = ledger(redis, "bsg:ledger", "shutdown")
        assert len(records) == 1, records
        assert records[0]["output_tokens"] == "20" and records[0]["status"] == "200"
        assert any("drained" in line.get("message", "") for line in gw.log_lines())
        access = [line for line in gw.log_lines() if line.get("target") == "access"]
        streamed = [line for line in access if line.get("path") == "/v1/messages"]
        assert len(streamed) == 1, access
        assert streamed[0]["status"] == 200 and streamed[0]["output_tokens"] == 20
    finally:
        gw.stop()
        redis.stop()
