"""docker-compose.yml and the Dockerfile stay true to the code: settings that exist, real
``tidings`` subcommands, matching ports, healthchecks everywhere, MongoDB as a replica set.

No Docker engine is needed: the files are parsed and checked against the code.
"""

import argparse
import importlib.util
import os
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from foundation.settings import ENV_PREFIX, Settings, load_settings
from outbox.resolvers import load_resolvers
from tidings.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
TIDINGS_SERVICES = {"migrate": "migrate", "serve": "serve", "worker": "worker"}
LONG_RUNNING = {"mongo", "redis", "serve", "worker", "example"}
_INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?+][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: str(value) for key, value in raw.items()}


def _parse(argv: list[str]) -> argparse.Namespace:
    try:
        return build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"not a tidings command: {argv}")


def _uses_tidings_entrypoint(service: dict[str, Any]) -> bool:
    return service.get("image") == "tidings:local" and "entrypoint" not in service


def test_the_stack_has_its_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"mongo", "redis", "migrate", "serve", "worker", "example"}
    assert services["mongo"]["image"] == "mongo:7"
    assert services["redis"]["image"] == "redis:7"
    for name in ("migrate", "serve", "worker", "example"):
        assert services[name]["image"] == "tidings:local"
        assert services[name]["build"] == "."


def test_every_tidings_variable_is_a_setting(compose: dict[str, Any]) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(rf"\b{ENV_PREFIX}[A-Z0-9_]+\b", text))
    assert used, "no TIDINGS_* variable found"
    unknown = {
        name for name in used if name[len(ENV_PREFIX) :].lower() not in Settings.model_fields
    }
    assert unknown == set()


def test_each_service_environment_builds_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in services.items():
        environment = _environment(service)
        if not any(key.startswith(ENV_PREFIX) for key in environment):
            continue
        for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
            monkeypatch.delenv(key)
        for key, value in environment.items():
            # Interpolations are filled in by compose; stand in a valid 32-byte secret.
            monkeypatch.setenv(key, _INTERPOLATION.sub("x" * 32, value))
        settings = load_settings()
        assert settings.uses_mongodb, name
        assert settings.redis_url.startswith("redis://redis:"), name


def test_the_jwt_secret_comes_from_the_environment_without_a_default(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in ("migrate", "serve", "worker", "example"):
        secret = _environment(services[name])["TIDINGS_JWT_SECRET"]
        assert re.fullmatch(r"\$\{TIDINGS_JWT_SECRET(:?\?[^}]*)?\}", secret), (name, secret)


def test_commands_are_real_tidings_subcommands(services: dict[str, dict[str, Any]]) -> None:
    for name, subcommand in TIDINGS_SERVICES.items():
        service = services[name]
        assert _uses_tidings_entrypoint(service), name
        args = _parse(list(service["command"]))
        assert args.handler.__name__ == f"_{subcommand}", name
    probes = [service.get("healthcheck", {}).get("test", []) for service in services.values()]
    tidings_probes = [test[2:] for test in probes if test[1:2] == ["tidings"]]
    assert tidings_probes, "the worker's healthcheck should be a tidings command"
    for argv in tidings_probes:
        _parse(argv)


def test_the_example_app_and_its_resolvers_exist(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    entrypoint = services["example"]["entrypoint"]
    assert entrypoint[:2] == ["python", "-m"]
    assert importlib.util.find_spec(f"{entrypoint[2]}.__main__") is not None
    path = _environment(services["worker"])["TIDINGS_RESOLVERS"]
    monkeypatch.delenv("TIDINGS_MONGODB_URL", raising=False)  # the SQLite reader opens nothing
    assert "family" in load_resolvers(path).kinds


def test_published_ports_are_the_ports_the_services_listen_on(
    services: dict[str, dict[str, Any]],
) -> None:
    default_port = Settings.model_fields["port"].default
    published = 0
    for name, service in services.items():
        if "ports" not in service:
            continue
        environment = _environment(service)
        port = int(environment.get("TIDINGS_PORT", default_port))
        assert environment.get("TIDINGS_HOST") == "0.0.0.0", name
        for mapping in service["ports"]:
            assert mapping.startswith("127.0.0.1:"), name  # published on loopback only
            assert int(str(mapping).rsplit(":", 1)[1]) == port, name
            published += 1
        probe = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe, name
    assert published >= 2


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in LONG_RUNNING:
        test = services[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name


def test_dependencies_wait_for_health_and_for_the_migration(
    services: dict[str, dict[str, Any]],
) -> None:
    assert services["migrate"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("serve", "worker", "example"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (name, target)


def test_mongo_runs_as_the_replica_set_the_url_names(services: dict[str, dict[str, Any]]) -> None:
    mongo = services["mongo"]
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    probe = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate(" in probe and f"_id: '{replica_set}'" in probe
    assert "isWritablePrimary" in probe
    for name in ("migrate", "serve", "worker", "example"):
        url = urlsplit(_environment(services[name])["TIDINGS_MONGODB_URL"])
        query = parse_qs(url.query)
        assert url.hostname == "mongo", name
        assert query.get("replicaSet") == [replica_set] or query.get("directConnection") == [
            "true"
        ], name


def test_the_dockerfile_installs_the_package_with_the_cli_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.13-slim\b", dockerfile, re.MULTILINE)
    # The package itself, with the server extra (uvloop) for `tidings serve`.
    assert re.search(r"^RUN pip install '\.\[server\]'", dockerfile, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["tidings"\]$', dockerfile, re.MULTILINE)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [pattern.rstrip("*") for pattern in included]
    assert "foundation" in packages
    for package in [*packages, "examples"]:
        assert re.search(rf"^COPY {package} \./{package}$", dockerfile, re.MULTILINE), package
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "**/node_modules"} <= set(ignored)
