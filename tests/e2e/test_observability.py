"""Metrics, dashboards and alert rules checked against a real Prometheus.

A Prometheus started here scrapes two running gateways every second: the suite's gateway and
one on a Redis with tiny per-key limits. Traffic covers passthrough, translation, streaming,
upstream failures, 429s, a Redis outage and a broken config. Then every query of every
dashboard panel and every alert expression is evaluated through Prometheus's HTTP API: each must
be valid and return data. `promtool` checks the exposition format and the rules, and runs the
rules' unit tests.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from harness import (
    DISABLED_KEY,
    KEYS_YAML,
    MAIN_KEY,
    REPO_ROOT,
    SECRETS,
    TRANSLATE_KEY,
    Gateway,
    api_key_yaml,
    anthropic_headers,
    free_port,
    openai_headers,
    stop_process,
    wait_until,
    write_config,
)
from redis_server import RedisServer

DASHBOARDS = REPO_ROOT / "dashboards"
ALERTS = DASHBOARDS / "alerts.yaml"
ALERT_TESTS = DASHBOARDS / "alerts.test.yaml"
METRICS_DOC = REPO_ROOT / "docs" / "metrics.md"
DASHBOARD_FILES = ["overview.json", "keys-and-limits.json", "upstreams.json", "gateway-health.json"]

TINY_KEY = "bsk-e2e-obs-tiny-6a0d2c91e7f4"
ROOMY_KEY = "bsk-e2e-obs-roomy-19c5e0b7a3d2"
SCRAPE_NAMESPACE = "e2e"
SCRAPE_JOB = "bytespike"

# Alerts the traffic below brings about (pending or firing); the TTFT regression needs hours of
# history and is covered by the rules' unit tests.
EXPECTED_ALERTS = {
    "BytespikeHighErrorRate",
    "BytespikeUpstreamFailing",
    "BytespikeRedisUnreachable",
    "BytespikeConfigInvalid",
    "BytespikeKeyNearLimit",
}

# Grafana's built-in and template variables, as the test substitutes them.
VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
    "namespace": ".*",
    "job": ".*",
    "provider": ".*",
    "model": ".*",
    "key": ".*",
}


def promtool() -> str:
    path = shutil.which("promtool")
    if not path:
        pytest.fail("promtool is missing: apt-get install prometheus (scripts/test does)", pytrace=False)
    return path


class Prometheus:
    """A `prometheus` server scraping the given admin addresses every second."""

    def __init__(self, workdir: Path, targets: list[str]):
        binary = shutil.which("prometheus")
        if not binary:
            pytest.fail("prometheus is missing: apt-get install prometheus (scripts/test does)",
                        pytrace=False)
        self.dir = Path(tempfile.mkdtemp(prefix="prometheus-", dir=workdir))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [{
                "job_name": SCRAPE_JOB,
                "static_configs": [{"targets": targets, "labels": {"namespace": SCRAPE_NAMESPACE}}],
            }],
        }
        # JSON is YAML.
        (self.dir / "prometheus.yml").write_text(json.dumps(config, indent=2))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(self.dir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.http = httpx.Client(base_url=self.url, timeout=10)
        wait_until(self._ready, 20, "prometheus to be ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"prometheus exited: {(self.dir / 'prometheus.log').read_text()[-2000:]}",
                        pytrace=False)
        try:
            return self.http.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def query(self, expr: str) -> tuple[str, list]:
        """(error or "", result) of an instant query."""
        body = self.http.get("/api/v1/query", params={"query": expr}).json()
        if body.get("status") != "success":
            return f"{body.get('errorType')}: {body.get('error')}", []
        return "", body["data"]["result"]

    def api(self, path: str) -> dict:
        body = self.http.get(f"/api/v1/{path}").json()
        assert body["status"] == "success", body
        return body["data"]

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)
        self.log.close()


def message(client: httpx.Client, key: str, model: str, text: str = "hi", stream: bool = False) -> int:
    body = {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": text}]}
    # A failed proxy attempt closes the connection: one connection per request.
    resp = client.post("/v1/messages", json=body, headers=anthropic_headers(key, connection="close"))
    return resp.status_code


def chat(client: httpx.Client, key: str, model: str, text: str = "hi", stream: bool = False) -> int:
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    resp = client.post("/v1/chat/completions", json=body, headers=openai_headers(key, connection="close"))
    return resp.status_code


def traffic_round(main: httpx.Client, limited: httpx.Client) -> None:
    """One round of everything the dashboards show."""
    statuses = [
        # Passthrough, both protocols, streamed and not, one with prompt-cache reads.
        message(main, MAIN_KEY, "claude-sonnet-4-6", "hello [[words:12]]"),
        message(main, MAIN_KEY, "claude-sonnet-4-6", "stream [[words:20]] [[cached:40]]", stream=True),
        chat(main, MAIN_KEY, "gpt-5-4", "hello [[words:12]] [[cached:30]]"),
        chat(main, MAIN_KEY, "gpt-5-4", "stream [[words:20]]", stream=True),
        # Translated: Anthropic clients to OpenAI and Gemini, OpenAI clients to Anthropic.
        message(main, TRANSLATE_KEY, "tr-gpt", "translate [[words:10]]"),
        message(main, TRANSLATE_KEY, "tr-gpt", "translate stream [[words:15]]", stream=True),
        message(main, TRANSLATE_KEY, "tr-gemini", "translate [[words:10]]"),
        chat(main, TRANSLATE_KEY, "tr-claude", "translate stream [[words:15]]", stream=True),
    ]
    assert all(s == 200 for s in statuses), statuses
    # Failures: an unreachable provider, an upstream 500, gateway-side refusals.
    for _ in range(4):
        assert message(main, MAIN_KEY, "claude-dead") >= 500
    assert message(main, MAIN_KEY, "claude-sonnet-4-6", "boom [[error:500]]") == 500
    assert chat(main, MAIN_KEY, "no-such-model") == 404
    assert message(main, DISABLED_KEY, "claude-sonnet-4-6") in (401, 403)
    # The tiny key: two requests per 5h, then 429s.
    tiny = [message(limited, TINY_KEY, "claude-sonnet-4-6", "tiny [[words:5]]") for _ in range(3)]
    assert 429 in tiny, tiny
    assert message(limited, ROOMY_KEY, "claude-sonnet-4-6", "roomy [[words:5]]", stream=True) == 200


def scrape_text(gw: Gateway) -> str:
    resp = httpx.get(f"{gw.admin_url}/metrics", timeout=5)
    resp.raise_for_status()
    return resp.text


@pytest.fixture(scope="module")
def observed(workdir, fake, gateway):
    """Both gateways after the traffic, scraped by a running Prometheus."""
    redis = RedisServer(workdir)
    config_dir = workdir / "observability-limited"
    write_config(config_dir, fake.url)
    (config_dir / "keys.yaml").write_text(KEYS_YAML + "---\n" + "---\n".join([
        api_key_yaml("obs-tiny", TINY_KEY, "main", limits="[{window: 5h, requests: 2}]"),
        api_key_yaml("obs-roomy", ROOMY_KEY, "main", limits="[{window: 1h, requests: 1000}]"),
    ]))
    limited = Gateway(workdir, config_dir, "--redis-url", redis.url)
    prom = Prometheus(workdir, [gateway.admin_url.removeprefix("http://"),
                                limited.admin_url.removeprefix("http://")])
    main_client = httpx.Client(base_url=gateway.url, timeout=20)
    limited_client = httpx.Client(base_url=limited.url, timeout=20)
    try:
        wait_until(lambda: len(prom.query('up == 1')[1]) == 2, 15, "prometheus to scrape both gateways")
        # A broken file: every reload fails from now on, the last good config keeps serving.
        (config_dir / "zz-broken.yaml").write_text("kind: ApiKey\nspec: [unclosed\n")
        traffic_round(main_client, limited_client)
        # Redis goes away: admissions fall back to this replica's share, settlements queue up.
        redis.stop()
        time.sleep(2.5)  # at least two scrapes, so every counter moves between samples
        traffic_round(main_client, limited_client)
        time.sleep(2.5)
        redis.start()
        # The queued settlements replay once Redis is back.
        wait_until(lambda: "bytespike_limit_settlement_replays_total{" in scrape_text(limited), 15,
                   "the queued settlements to replay")
        time.sleep(2.5)
        yield {"prom": prom, "main": gateway, "limited": limited}
    finally:
        main_client.close()
        limited_client.close()
        prom.stop()
        limited.stop()
        redis.stop()


def test_alert_rules_pass_promtool_check_and_unit_tests():
    check = subprocess.run([promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    unit = subprocess.run([promtool(), "test", "rules", str(ALERT_TESTS)], capture_output=True,
                          text=True, cwd=DASHBOARDS)
    assert unit.returncode == 0, unit.stdout + unit.stderr
    # Each alert has a firing and a quiet case, a summary and a runbook line.
    rules = ALERTS.read_text()
    tests = ALERT_TESTS.read_text()
    names = re.findall(r"- alert: (\w+)", rules)
    assert len(names) == 6, names
    for name in names:
        cases = re.findall(rf'alertname: "{name}"\n\s+exp_alerts:( \[\]|\n)', tests)
        assert " []" in cases and "\n" in cases, f"{name} needs a firing and a not-firing case"
    assert rules.count("runbook:") == len(names) and rules.count("summary:") == len(names)


def test_metrics_pass_promtool_check_and_hold_no_secrets(observed):
    for gw in (observed["main"], observed["limited"]):
        text = scrape_text(gw)
        check = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        for secret in (*SECRETS, MAIN_KEY, TRANSLATE_KEY, TINY_KEY, ROOMY_KEY):
            assert secret not in text
    limited = scrape_text(observed["limited"])
    # Keys are labelled by ApiKey namespace/name.
    assert re.search(r'bytespike_key_window_utilisation_ratio\{key="[^"]*/obs-tiny",metric="requests",window="5h"\} 1', limited), limited


def test_every_metric_is_documented(observed):
    doc = METRICS_DOC.read_text()
    families = set()
    for gw in (observed["main"], observed["limited"]):
        families |= set(re.findall(r"^# TYPE (\S+) ", scrape_text(gw), re.M))
    assert families
    missing = sorted(f for f in families if f"`{f}`" not in doc)
    assert not missing, f"undocumented in docs/metrics.md: {missing}"


def substitute(expr: str) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        assert name in VARIABLES, f"unknown variable ${name} in {expr}"
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def test_every_dashboard_panel_returns_data(observed):
    prom: Prometheus = observed["prom"]
    failures = []
    referenced = set()
    checked = 0
    for name in DASHBOARD_FILES:
        dashboard = json.loads((DASHBOARDS / name).read_text())
        assert dashboard["schemaVersion"] >= 39, name
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert {"namespace", "job"} <= variables.keys(), name
        for var in variables.values():
            if var["type"] != "query":
                continue
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
            assert m, f"{name}: variable {var['name']}: {query}"
            error, result = prom.query(f"count by ({m.group(2)}) ({substitute(m.group(1))})")
            if error or not result:
                failures.append(f"{name}: variable {var['name']}: {error or 'no values'}")
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "${datasource}", f"{name}: {panel['title']}"
            assert panel.get("targets"), f"{name}: {panel['title']} has no query"
            for target in panel["targets"]:
                expr = substitute(target["expr"])
                referenced |= set(re.findall(r"\bbytespike_\w+", expr))
                error, result = prom.query(expr)
                checked += 1
                if error:
                    failures.append(f"{name}: {panel['title']!r}: invalid query {expr}: {error}")
                elif not result:
                    failures.append(f"{name}: {panel['title']!r}: no data for {expr}")
    # `or vector(0)` must not hide a metric that is never exported.
    for metric in sorted(referenced):
        error, result = prom.query(f'count({{__name__="{metric}"}})')
        if error or not result:
            failures.append(f"metric {metric} is queried by a dashboard but was never scraped")
    assert checked > 40
    assert not failures, "\n".join(failures)


def lhs_of_comparison(expr: str) -> str:
    """The expression up to its first top-level comparison (the value an alert compares)."""
    depth, quote, i = 0, None, 0
    while i < len(expr):
        c = expr[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c in "<>" or depth == 0 and expr[i:i + 2] in ("==", "!="):
            return expr[:i]
        i += 1
    return expr


def test_every_alert_expression_is_valid_returns_data_and_fires_when_it_should(observed):
    prom: Prometheus = observed["prom"]
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"] if r["type"] == "alerting"]
    assert len(rules) == 6, [r["name"] for r in rules]
    failures = []
    for rule in rules:
        if rule["health"] != "ok":
            failures.append(f"{rule['name']}: {rule['health']} {rule.get('lastError')}")
        error, _ = prom.query(rule["query"])
        if error:
            failures.append(f"{rule['name']}: invalid expression: {error}")
        lhs = lhs_of_comparison(rule["query"])
        error, result = prom.query(lhs)
        if error or not result:
            failures.append(f"{rule['name']}: no data for {lhs}: {error}")
        for field in ("summary", "runbook"):
            if not rule["annotations"].get(field):
                failures.append(f"{rule['name']}: no {field} annotation")

    def active() -> set[str]:
        return {a["labels"]["alertname"] for a in prom.api("alerts")["alerts"]
                if a["state"] in ("pending", "firing")}

    try:
        wait_until(lambda: EXPECTED_ALERTS <= active(), 10, "the expected alerts to be pending")
    except BaseException:
        failures.append(f"active alerts {sorted(active())}, expected {sorted(EXPECTED_ALERTS)}")
    by_name = {a["labels"]["alertname"]: a["labels"] for a in prom.api("alerts")["alerts"]}
    if "BytespikeUpstreamFailing" in by_name:
        assert by_name["BytespikeUpstreamFailing"]["provider"] == "anthropic-dead", by_name
    if "BytespikeKeyNearLimit" in by_name:
        assert by_name["BytespikeKeyNearLimit"]["key"].endswith("/obs-tiny"), by_name
    assert not failures, "\n".join(failures)


def test_per_key_series_can_be_switched_off(start_gateway):
    gw = start_gateway("observability-no-per-key", "--metrics-per-key", "false")
    with httpx.Client(base_url=gw.url, timeout=20) as client:
        assert message(client, MAIN_KEY, "claude-sonnet-4-6") == 200
    def scraped() -> str | None:
        text = scrape_text(gw)
        return text if "bytespike_requests_total{" in text else None

    text = wait_until(scraped, 5, "the request's metrics")
    assert "bytespike_key_" not in text.replace("# HELP bytespike_key_", "").replace("# TYPE bytespike_key_", "")


SERIES = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


def series_values(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, by metric name and label set (empty when unlabelled)."""
    values = {}
    for line in text.splitlines():
        m = SERIES.match(line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            values[(m.group(1), labels)] = float(m.group(3))
    return values


def test_each_request_counts_in_the_series_of_its_route_and_key(start_gateway):
    """Counts, tokens, cost and timings land under the labels of the request that made them,
    passthrough and translated, whole and streamed, served and refused, as the access log
    tells them."""
    gw = start_gateway("observability-series")
    entries = []
    with httpx.Client(base_url=gw.url, timeout=20) as client:
        sent = [
            ("/v1/messages", MAIN_KEY, {"model": "claude-sonnet-4-6", "max_tokens": 64,
                                        "messages": [{"role": "user", "content": "a [[words:12]] [[cached:40]]"}]}),
            ("/v1/messages", MAIN_KEY, {"model": "claude-sonnet-4-6", "max_tokens": 64, "stream": True,
                                        "messages": [{"role": "user", "content": "b [[words:20]]"}]}),
            ("/v1/messages", TRANSLATE_KEY, {"model": "tr-gpt", "max_tokens": 64,
                                             "messages": [{"role": "user", "content": "c [[words:10]]"}]}),
            ("/v1/messages", MAIN_KEY, {"model": "no-such-model", "max_tokens": 64,
                                        "messages": [{"role": "user", "content": "d"}]}),
            # Admitted, then failed upstream: its budget is released, nothing is settled.
            ("/v1/messages", MAIN_KEY, {"model": "claude-sonnet-4-6", "max_tokens": 64,
                                        "messages": [{"role": "user", "content": "e [[error:400]]"}]}),
        ]
        for path, key, body in sent:
            resp = client.post(path, json=body, headers=anthropic_headers(key))
            entries.append(gw.access_entry(resp.headers["x-request-id"]))
    assert [e["status"] for e in entries] == [200, 200, 200, 404, 400], entries
    values = wait_until(lambda: series_values(scrape_text(gw)) or None, 5, "the metrics")

    def value(name: str, **labels: str) -> float:
        return values.get((name, frozenset(labels.items())), 0.0)

    served = entries[:3]
    for e in served:
        route = {"client_protocol": "anthropic", "upstream_protocol": e["upstream_protocol"],
                 "provider": e["provider"], "model": e["model"], "route": e["route"]}
        same_route = [x for x in served if x["model"] == e["model"]]
        assert value("bytespike_requests_total", **route, status_class="2xx") == len(same_route), e
        for kind in ("input", "output", "cache_read"):
            expected = sum(x[f"{kind}_tokens"] for x in same_route)
            assert value("bytespike_tokens_total", kind=kind, provider=e["provider"],
                         model=e["model"]) == expected, (kind, e)
        cost = value("bytespike_cost_usd_total", provider=e["provider"], model=e["model"])
        assert cost == pytest.approx(sum(x["cost_usd"] for x in same_route)), e
    passthrough = served[0]
    assert passthrough["route"] == "passthrough" and served[2]["route"] == "translated"
    assert passthrough["cache_read_tokens"] > 0 and served[1]["output_tokens"] > 0
    ttfb = "bytespike_time_to_first_byte_seconds_count"
    for stream in ("false", "true"):
        assert value(ttfb, client_protocol="anthropic", provider=passthrough["provider"],
                     model=passthrough["model"], stream=stream) == 1, stream
    duration = "bytespike_request_duration_seconds_count"
    assert value(duration, client_protocol="anthropic", route="passthrough", status_class="2xx") == 2
    assert value(duration, client_protocol="anthropic", route="translated", status_class="2xx") == 1
    refused = entries[3]
    assert value("bytespike_requests_total", client_protocol="anthropic", upstream_protocol="none",
                 provider="", model="", route="local", status_class="4xx") == 1, refused

    # The keys have no limits and the limits are kept in process: every request that reached
    # admission counts as an untracked one, and ends settled when served, released when not.
    assert value("bytespike_limit_admissions_total", origin="untracked") == 4
    assert value("bytespike_limit_settlements_total", outcome="settled") == 3
    assert value("bytespike_limit_reservations_released_total") == 1

    for key_id in {e["key"] for e in entries}:
        mine = [e for e in entries if e["key"] == key_id]
        ok = [e for e in mine if e["status"] == 200]
        assert value("bytespike_key_requests_total", key=key_id, status_class="2xx") == len(ok)
        assert value("bytespike_key_requests_total", key=key_id, status_class="4xx") == len(mine) - len(ok)
        tokens = sum(e["input_tokens"] + e["output_tokens"] + e["cache_read_tokens"]
                     + e["cache_write_tokens"] for e in ok)
        assert value("bytespike_key_tokens_total", key=key_id) == tokens, key_id
        cost = value("bytespike_key_cost_usd_total", key=key_id)
        assert cost == pytest.approx(sum(e["cost_usd"] for e in ok)), key_id
