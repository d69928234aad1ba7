"""deploy/ is checked by the tools operators use: docker-compose parses the compose file,
the Kubernetes manifests validate against the API schemas (offline, shipped with
kubernetes-validate), systemd-analyze verifies the units, and the image builds with the same
install script as development and CI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.services import unavailable

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
HUB_COMMANDS = {"web", "worker", "scheduler", "mailbox", "migrate"}


# Compose ---------------------------------------------------------------------------------------

def _compose(*args: str, env_file: Path | None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("docker-compose is not installed (apt-get install docker-compose)")
    env = {"PATH": "/usr/bin:/bin"}
    if env_file is not None:
        env["HUB_ENV_FILE"] = str(env_file)
    return subprocess.run(
        [tool, "--project-directory", str(DEPLOY / "compose"), "-f", str(DEPLOY / "compose" / "compose.yaml"), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / "hub.env"
    shutil.copyfile(DEPLOY / "compose" / "hub.env.example", path)
    return path


def test_compose_file_parses_into_the_production_topology(env_file: Path) -> None:
    result = _compose("config", env_file=env_file)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web1", "web2", "worker", "scheduler", "mailbox", "proxy"}
    commands = {name: s["command"][0] for name, s in services.items() if s.get("image", "").startswith("contact-hub")}
    assert commands == {"migrate": "migrate", "web1": "web", "web2": "web", "worker": "worker",
                        "scheduler": "scheduler", "mailbox": "mailbox"}
    for name in ("web1", "web2", "worker", "scheduler", "mailbox"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["environment"]["HUB_DATABASE_URL"].startswith("postgresql+asyncpg://")
        # HUB_DATA_DIR (attachments) is one volume shared by every hub process.
        assert any("hub-data" in str(v) and "/var/lib/hub" in str(v) for v in services[name]["volumes"]), name
    for name in ("migrate", "worker", "scheduler", "mailbox"):
        assert services[name]["healthcheck"]["test"] == ["NONE"], name  # docker-compose spells "disable" so
    assert "/readyz" in " ".join(services["web1"]["healthcheck"]["test"])
    # Two web instances, reachable only through the TLS proxy.
    assert "ports" not in services["web1"] and "ports" not in services["web2"]
    assert {p["target"] for p in services["proxy"]["ports"]} == {80, 443}
    assert services["web1"]["environment"]["FORWARDED_ALLOW_IPS"] == "*"
    assert services["web1"]["build"]["dockerfile"] == "deploy/Containerfile"


def test_compose_refuses_to_start_without_the_operators_env_file(tmp_path: Path) -> None:
    result = _compose("config", "-q", env_file=tmp_path / "missing.env")
    assert result.returncode != 0
    assert "missing.env" in result.stderr


def _caddy(*args: str, tmp_path: Path, caddyfile: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("caddy")
    if tool is None:
        unavailable("caddy is not installed (apt-get install caddy)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "HUB_DOMAIN": "hub.example.org"}
    return subprocess.run([tool, *args, "--config", str(caddyfile), "--adapter", "caddyfile"],
                          capture_output=True, text=True, timeout=60, env=env)


def test_the_caddy_proxy_terminates_tls_and_balances_both_web_instances(tmp_path: Path) -> None:
    caddyfile = DEPLOY / "compose" / "Caddyfile"
    validated = _caddy("validate", tmp_path=tmp_path, caddyfile=caddyfile)
    assert validated.returncode == 0, validated.stderr
    adapted = _caddy("adapt", tmp_path=tmp_path, caddyfile=caddyfile)
    assert adapted.returncode == 0, adapted.stderr
    server = next(iter(json.loads(adapted.stdout)["apps"]["http"]["servers"].values()))
    assert server["listen"] == [":443"]  # HTTPS for HUB_DOMAIN (Caddy redirects :80 itself)
    route = server["routes"][0]
    assert route["match"] == [{"host": ["hub.example.org"]}]
    handlers = json.dumps(route)
    assert '"dial": "web1:8000"' in handlers and '"dial": "web2:8000"' in handlers
    assert '"uri": "/readyz"' in handlers  # an instance that is not ready is taken out
    assert '"flush_interval": -1' in handlers  # SSE goes out at once
    assert '"status_code": 404' in handlers and '"/metrics"' in handlers  # metrics stay private


def test_caddy_validation_catches_a_broken_proxy_config(tmp_path: Path) -> None:
    broken = tmp_path / "Caddyfile"
    broken.write_text((DEPLOY / "compose" / "Caddyfile").read_text().replace("lb_policy round_robin", "lb_policy nope"))
    assert _caddy("validate", tmp_path=tmp_path, caddyfile=broken).returncode != 0


# Kubernetes -------------------------------------------------------------------------------------

def _manifests() -> list[tuple[Path, dict]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def test_kubernetes_manifests_validate_against_the_api_schemas() -> None:
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate is not installed (pip install kubernetes-validate)")
    version = kubernetes_validate.latest_version()
    for path, doc in _manifests():
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name}: {doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_the_validator_rejects_a_broken_manifest() -> None:
    try:
        import kubernetes_validate
    except ImportError:
        unavailable("kubernetes-validate is not installed (pip install kubernetes-validate)")
    doc = next(d for _, d in _manifests() if d["kind"] == "Deployment")
    broken = json.loads(json.dumps(doc))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def test_kubernetes_runs_every_process_with_the_right_shape() -> None:
    deployments = {d["metadata"]["name"]: d for _, d in _manifests() if d["kind"] == "Deployment"}
    assert set(deployments) == {"hub-web", "hub-worker", "hub-scheduler", "hub-mailbox"}
    for name in ("hub-scheduler", "hub-mailbox"):
        assert deployments[name]["spec"]["replicas"] == 1
        assert deployments[name]["spec"]["strategy"]["type"] == "Recreate"
    web = deployments["hub-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in _manifests()}
    assert {("Job", "hub-migrate"), ("Service", "hub-web"), ("Ingress", "hub"), ("ConfigMap", "hub-config"),
            ("Secret", "hub-secrets")} <= kinds
    for _, doc in _manifests():
        if doc["kind"] in ("Deployment", "Job"):
            pod = doc["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            command = pod["containers"][0]["args"][0]
            assert command in HUB_COMMANDS


# systemd ----------------------------------------------------------------------------------------

def test_systemd_units_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    hub = ROOT / ".venv" / "bin" / "hub"
    if tool is None:
        unavailable("systemd-analyze is not installed (apt-get install systemd)")
    if not hub.exists():
        hub = Path(shutil.which("hub") or "/nonexistent")
    # The units point at /opt/hub and /etc/hub; verify copies that point at this checkout.
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/hub/bin/hub", str(hub))
        text = text.replace("/etc/hub/hub.env", str(DEPLOY / "systemd" / "hub.env.example"))
        (tmp_path / unit.name).write_text(text)
    units = [str(tmp_path / n) for n in ("hub-web@8001.service", "hub-worker.service", "hub-scheduler.service",
                                          "hub-mailbox.service", "hub-migrate.service", "hub.target")]
    (tmp_path / "hub-web@8001.service").symlink_to(tmp_path / "hub-web@.service")
    result = subprocess.run([tool, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    complaints = [line for line in result.stderr.splitlines() if str(tmp_path) in line or ".service" in line]
    assert not complaints, result.stderr


def test_systemd_units_run_the_hub_commands_from_the_environment_file() -> None:
    expected = {"hub-web@.service": "web --host 127.0.0.1 --port %i", "hub-worker.service": "worker",
                "hub-scheduler.service": "scheduler", "hub-mailbox.service": "mailbox", "hub-migrate.service": "migrate"}
    for name, command in expected.items():
        text = (DEPLOY / "systemd" / name).read_text()
        assert f"ExecStart=/opt/hub/bin/hub {command}" in text, name
        assert "EnvironmentFile=/etc/hub/hub.env" in text and "User=hub" in text


# The image --------------------------------------------------------------------------------------

def test_the_image_builds_with_the_install_script_that_dev_and_ci_use() -> None:
    containerfile = (DEPLOY / "Containerfile").read_text()
    runs = [line for line in containerfile.splitlines() if line.startswith("RUN ")]
    assert "RUN deploy/install.sh /opt/hub/bin/python" in runs
    assert re.search(r"^USER 10001", containerfile, re.M)  # not root
    assert 'ENTRYPOINT ["hub"]' in containerfile
    dev = (ROOT / "dev").read_text()
    assert re.search(r'^\s*deploy/install\.sh "\$VENV/bin/python" --dev', dev, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "./dev test" in ci  # CI installs through ./dev, hence through deploy/install.sh


def test_the_install_script_refuses_bad_usage() -> None:
    result = subprocess.run([str(DEPLOY / "install.sh")], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2 and "usage" in result.stderr


def test_every_file_the_packages_need_is_packaged() -> None:
    """The image installs a wheel (`pip install .`), not the source tree: a template, catalogue or
    static file whose extension is not in package-data would be missing in production only."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["*"]
    tracked = subprocess.run(["git", "ls-files", "hub", "agent_ui", "channels", "runtime"], cwd=ROOT,
                             capture_output=True, text=True, timeout=30)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    not_needed = ("*.py", "README.md", "*.pot", "babel.cfg")  # code, docs and translators' tooling
    missing = [path for path in tracked.stdout.split()
               if "/assets/" not in path  # npm input; its output (static/vendor) is checked by the patterns
               and not any(fnmatch.fnmatch(Path(path).name, p) for p in (*patterns, *not_needed))]
    assert not missing, f"add their extensions to [tool.setuptools.package-data] in pyproject.toml: {missing}"
