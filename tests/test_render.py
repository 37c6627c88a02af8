"""The render matrix: supported answer combinations, each rendered with real Copier and checked
with the real tools (docker compose config, caddy validate, ruff, git).

Combinations are small overrides of conftest.BASE_ANSWERS (local, PostgreSQL 17, MinIO,
Redis and Functions on), in the style of cookiecutter-django's SUPPORTED_COMBINATIONS.
"""

from __future__ import annotations

import py_compile
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import BASE_ANSWERS, git
from stack import (
    CADDY_VARIABLE,
    ONE_SHOT_SERVICES,
    PORT_TABLE,
    caddy_environment,
    caddy_run,
    compose_config,
    compose_variables,
    env_values,
    host_ports,
    venv_tool,
)

PRODUCTION = {"environment": "production", "domain": "example.com", "site_url": "https://app.example.com"}

SUPPORTED_COMBINATIONS = [
    {},
    {"postgres_version": 15},
    {"storage_backend": "file"},
    {"enable_redis": False},
    {"enable_functions": False},
    {"port_offset": 100},
    {"port_offset": 56534},  # the largest offset: MinIO's console lands on 65535
    {"oauth_providers": ["github", "google"]},
    {"oauth_providers": ["apple", "azure", "gitlab", "keycloak", "linkedin_oidc", "slack_oidc", "twitter"]},
    {"password_required_characters": "lower_upper_digits_symbols", "password_min_length": 16},
    {"password_required_characters": "none", "enable_signup": False, "email_autoconfirm": False},
    {**PRODUCTION},
    {**PRODUCTION, "acme_email": "ops@example.com", "oauth_providers": ["github"]},
    {**PRODUCTION, "domain": "supa.example.org", "storage_backend": "file", "enable_redis": False},
    {"postgres_version": 15, "storage_backend": "file", "enable_redis": False, "enable_functions": False},
    {"enable_logs": True},
    {**PRODUCTION, "enable_logs": True, "storage_backend": "file", "enable_functions": False},
]

UNRENDERED_JINJA = re.compile(r"\{\{|\{%|\{#")
TEMPLATE = Path(__file__).resolve().parents[1] / "template"


def combination_id(overrides: dict) -> str:
    if not overrides:
        return "defaults"
    parts = []
    for key, value in overrides.items():
        if isinstance(value, list):
            value = "+".join(value)
        parts.append(f"{key}:{value}")
    return "-".join(parts)


@dataclass
class Rendered:
    answers: dict
    project: Path
    # Kept out of repr: pytest prints test arguments on failure, and both hold secrets.
    config: dict = field(repr=False)  # the resolved `docker compose config` of the environment
    env: dict[str, str] = field(repr=False)

    @property
    def environment(self) -> str:
        return self.answers["environment"]


@pytest.fixture(scope="module", params=SUPPORTED_COMBINATIONS, ids=combination_id)
def rendered(request, render) -> Rendered:
    answers = {**BASE_ANSWERS, **request.param}
    project = render(**request.param)
    return Rendered(answers, project, compose_config(project, answers["environment"]), env_values(project))


def rendered_from_jinja(project: Path) -> list[Path]:
    """The project's files that Copier rendered (their sources end in .jinja); the rest are
    copied verbatim and may hold other template languages (Go's {{json .}} in docker --format)."""
    paths = []
    for source in TEMPLATE.rglob("*.jinja"):
        relative = source.relative_to(TEMPLATE).as_posix().removesuffix(".jinja")
        paths.append(project / relative.replace("{{ _copier_conf.answers_file }}", ".copier-answers.yml"))
    return sorted(paths)


def test_no_jinja_left(rendered: Rendered):
    files = rendered_from_jinja(rendered.project)
    assert all(path.is_file() for path in files), [str(p) for p in files if not p.is_file()]
    leftovers = [
        f"{path.relative_to(rendered.project)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if UNRENDERED_JINJA.search(line)
    ]
    leftovers += [str(p) for p in rendered.project.rglob("*") if UNRENDERED_JINJA.search(p.name)]
    assert not leftovers, "unrendered Jinja:\n" + "\n".join(leftovers)


def test_compose_name_is_the_project(rendered: Rendered):
    assert rendered.config["name"] == rendered.answers["project_name"]


def test_every_compose_variable_is_in_env(rendered: Rendered):
    used = compose_variables(rendered.project, rendered.environment)
    missing = sorted(used - set(rendered.env))
    assert not missing, f"used by the compose files but not defined in docker/.env: {missing}"


def test_isolation_names(rendered: Rendered):
    prefix = rendered.answers["project_name"] + "_"
    config = rendered.config
    containers = {name: service["container_name"] for name, service in config["services"].items()}
    assert containers == {name: prefix + name for name in config["services"]}
    volumes = [volume["name"] for volume in config["volumes"].values()]
    networks = [network["name"] for network in config["networks"].values()]
    assert volumes and all(name.startswith(prefix) for name in volumes), volumes
    assert networks and all(name.startswith(prefix) for name in networks), networks
    # Nothing is pinned to the upstream names, and no network has a fixed subnet.
    compose_text = "\n".join(p.read_text() for p in (rendered.project / "docker").glob("docker-compose*.yml"))
    assert "supabase-" not in re.sub(r"supabase-storage|supabase-instance", "", compose_text)
    assert all(not network.get("ipam") for network in config["networks"].values())


def test_realtime_reachable_by_its_tenant_alias(rendered: Rendered):
    """Realtime reads its tenant from the Host header: Kong must reach it as realtime-dev.*."""
    aliases = rendered.config["services"]["realtime"]["networks"]["default"]["aliases"]
    kong_yml = (rendered.project / "docker" / "volumes" / "api" / "kong.yml").read_text()
    realtime_hosts = set(re.findall(r"url: https?://(realtime[^:/]*)", kong_yml))
    assert realtime_hosts == {"realtime-dev.realtime"}
    assert "realtime-dev.realtime" in aliases


def test_published_ports(rendered: Rendered):
    published = host_ports(rendered.config)
    if rendered.environment == "production":
        assert sorted(published) == [
            ("caddy", "", 80, "tcp"),
            ("caddy", "", 443, "tcp"),
            ("caddy", "", 443, "udp"),
        ]
        return
    enabled = {"minio"} if rendered.answers.get("storage_backend", "minio") == "minio" else set()
    if rendered.answers.get("enable_redis", True):
        enabled.add("redis")
    offset = rendered.answers["port_offset"]
    expected = sorted(
        (p.service, "127.0.0.1", p.base + offset, "tcp")
        for p in PORT_TABLE
        if not p.needs or p.needs in enabled
    )
    assert sorted(published) == expected
    assert len({port for _, _, port, _ in published}) == len(published), "two services share a host port"


def test_port_variables_match_the_port_table(rendered: Rendered):
    offset = rendered.answers["port_offset"]
    assert rendered.env["PORT_OFFSET"] == str(offset)
    assert {p.variable: rendered.env.get(p.variable) for p in PORT_TABLE} == {
        p.variable: str(p.base + offset) for p in PORT_TABLE
    }


def test_operations_policies(rendered: Rendered):
    """Healthchecks, start order, log rotation and restart policies on every service."""
    services = rendered.config["services"]
    for name, service in services.items():
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert {"max-size", "max-file"} <= set(logging.get("options", {})), name
        if name in ONE_SHOT_SERVICES:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        assert "start_interval" not in service["healthcheck"], f"{name}: needs Docker engine 25"
        for dependency, rule in service.get("depends_on", {}).items():
            if dependency in ONE_SHOT_SERVICES:
                assert rule["condition"] == "service_completed_successfully", (name, dependency)
            else:
                assert rule["condition"] == "service_healthy", (name, dependency)
    # The order that matters: the database first, the gateway after the APIs, Caddy last.
    assert "db" in services["auth"]["depends_on"]
    assert {"auth", "rest", "studio"} <= set(services["kong"]["depends_on"])
    assert {"kong", "studio"} <= set(services["caddy"]["depends_on"])
    if "analytics" in services:
        assert "db" in services["analytics"]["depends_on"]
        assert "analytics" in services["vector"]["depends_on"]
    # The optional log stack is off the start chain: nothing but Vector waits for Logflare.
    waiting_for_logs = {
        name for name, service in services.items() if "analytics" in service.get("depends_on", {})
    }
    assert waiting_for_logs <= {"vector"}


def test_images_are_pinned(rendered: Rendered):
    for name, service in rendered.config["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
    expected_db = (
        "supabase/postgres:17."
        if rendered.answers.get("postgres_version", 17) == 17
        else "supabase/postgres:15."
    )
    assert rendered.config["services"]["db"]["image"].startswith(expected_db)


def test_optional_services(rendered: Rendered):
    services = set(rendered.config["services"])
    answers = rendered.answers
    assert ("minio" in services) == (answers.get("storage_backend", "minio") == "minio")
    assert ("minio-init" in services) == ("minio" in services)
    assert ("redis" in services) == answers.get("enable_redis", True)
    assert ("functions" in services) == answers.get("enable_functions", True)
    logs = answers.get("enable_logs", False)
    assert ("analytics" in services) == ("vector" in services) == logs
    studio = rendered.config["services"]["studio"]["environment"]
    assert studio["ENABLED_FEATURES_LOGS_ALL"] == ("true" if logs else "false")
    assert ("LOGFLARE_URL" in studio) == logs
    log_files = [
        rendered.project / "docker" / "volumes" / "logs",
        rendered.project / "docker/volumes/db/logs.sql",
    ]
    assert [path.exists() for path in log_files] == [logs, logs], "log stack files without the log stack"
    assert ("DOCKER_SOCKET_LOCATION" in rendered.env) == logs
    storage = rendered.config["services"]["storage"]["environment"]
    assert storage["STORAGE_BACKEND"] == ("s3" if "minio" in services else "file")
    kong_yml = yaml.safe_load((rendered.project / "docker" / "volumes" / "api" / "kong.yml").read_text())
    routes = {route["name"] for service in kong_yml["services"] for route in service["routes"]}
    assert ("functions-v1-all" in routes) == ("functions" in services)


def test_auth_policy(rendered: Rendered):
    auth = rendered.config["services"]["auth"]["environment"]
    answers = rendered.answers
    assert auth["GOTRUE_PASSWORD_MIN_LENGTH"] == str(answers.get("password_min_length", 12))
    classes = (
        auth["GOTRUE_PASSWORD_REQUIRED_CHARACTERS"].split(":")
        if auth["GOTRUE_PASSWORD_REQUIRED_CHARACTERS"]
        else []
    )
    expected_classes = {"lower_upper_digits": 3, "lower_upper_digits_symbols": 4, "none": 0}
    assert len(classes) == expected_classes[answers.get("password_required_characters", "lower_upper_digits")]
    if len(classes) == 4:
        assert "$" in classes[3] and "!" in classes[3]  # Compose read '$' literally
    assert auth["GOTRUE_EXTERNAL_EMAIL_ENABLED"] == "true"  # e-mail/password and magic links
    assert auth["GOTRUE_DISABLE_SIGNUP"] == ("false" if answers.get("enable_signup", True) else "true")
    enabled = sorted(
        key.removeprefix("GOTRUE_EXTERNAL_").removesuffix("_ENABLED").lower()
        for key, value in auth.items()
        if key.endswith("_ENABLED") and value == "true" and key not in {"GOTRUE_EXTERNAL_EMAIL_ENABLED"}
    )
    assert enabled == sorted(answers.get("oauth_providers", []))
    for provider in answers.get("oauth_providers", []):
        redirect = auth[f"GOTRUE_EXTERNAL_{provider.upper()}_REDIRECT_URI"]
        assert redirect == rendered.env["API_EXTERNAL_URL"] + "/auth/v1/callback"


def test_public_urls_agree(rendered: Rendered):
    env = rendered.env
    if rendered.environment == "production":
        assert (
            env["API_EXTERNAL_URL"]
            == env["SUPABASE_PUBLIC_URL"]
            == f"https://api.{rendered.answers['domain']}"
        )
    else:
        assert env["API_EXTERNAL_URL"] == f"http://localhost:{env['KONG_HTTP_PORT']}"
    assert env["SITE_URL"] == rendered.answers.get("site_url", "http://localhost:5173")


def test_caddyfiles_validate(rendered: Rendered, tmp_path: Path):
    environment = caddy_environment(rendered.config, tmp_path)
    for name in ("Caddyfile.local", "Caddyfile.prod"):
        path = rendered.project / "caddy" / name
        missing = set(CADDY_VARIABLE.findall(path.read_text())) - set(environment)
        assert not missing, f"{name} reads variables the caddy service does not get: {missing}"
        done = caddy_run("validate", "--config", str(path), "--adapter", "caddyfile", env=environment)
        assert done.returncode == 0, f"caddy validate {name}:\n{done.stderr[-2000:]}"


def test_kong_placeholders_are_in_kong_environment(rendered: Rendered):
    kong_yml = (rendered.project / "docker" / "volumes" / "api" / "kong.yml").read_text()
    placeholders = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", kong_yml))
    set_by_entrypoint = {"LUA_AUTH_EXPR", "LUA_RT_WS_EXPR", "LUA_FUNCTIONS_EXPR"}
    kong_env = set(rendered.config["services"]["kong"]["environment"])
    assert placeholders - set_by_entrypoint <= kong_env


def test_generated_python_is_clean(rendered: Rendered):
    sources = sorted(rendered.project.rglob("*.py"))
    assert sources, "the project has no Python scripts"
    for source in sources:
        py_compile.compile(str(source), doraise=True, cfile=str(source) + ".check.pyc")
        Path(str(source) + ".check.pyc").unlink()
    # The template repository's own rules: the generated scripts are held to them. RUF100
    # aside: per-file ignores match other paths here (template/tests/ became tests/).
    config = TEMPLATE.parent / "pyproject.toml"
    done = subprocess.run(
        [venv_tool("ruff"), "check", "--no-cache", "--config", str(config), "--ignore", "RUF100", "."],
        cwd=rendered.project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def test_answers_hold_no_secret(rendered: Rendered):
    answers = (rendered.project / ".copier-answers.yml").read_text()
    secret_keys = ("PASSWORD", "SECRET", "KEY", "JWKS", "JWT_KEYS")
    secrets = [
        value
        for key, value in rendered.env.items()
        if len(value) >= 12 and any(part in key for part in secret_keys) and "URL" not in key
    ]
    assert secrets, "expected generated secrets in docker/.env"
    leaked = sum(value in answers for value in secrets)
    assert leaked == 0, f"{leaked} secret value(s) of docker/.env appear in .copier-answers.yml"


def test_gitignore_keeps_secrets_untracked(rendered: Rendered, tmp_path: Path):
    repo = tmp_path / "repo"
    subprocess.run(["cp", "-a", str(rendered.project), str(repo)], check=True)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "generated")
    assert git(repo, "status", "--porcelain") == ""
    tracked = git(repo, "ls-files").splitlines()
    assert {path for path in tracked if path.startswith("docker/.env")} == {"docker/.env.example"}
    assert (rendered.project / "docker" / ".env").stat().st_mode & 0o077 == 0, (
        "docker/.env is readable by others"
    )


# ---------------------------------------------------------------------- the log stack (enable_logs)
# Vector's interpolation, applied to the whole file: $$ (a literal $), ${NAME}, ${NAME:?message}, $NAME.
VECTOR_VARIABLE = re.compile(r"\$\$|\$\{([\w.]+)(?::?[-?][^}]*)?\}|\$([\w.]+)")


def vector_config(rendered: Rendered) -> dict:
    """volumes/logs/vector.yml with its variables filled from the vector container's environment."""
    text = (rendered.project / "docker" / "volumes" / "logs" / "vector.yml").read_text()
    environment = rendered.config["services"]["vector"]["environment"]
    used = {braced or bare for braced, bare in VECTOR_VARIABLE.findall(text)} - {""}
    missing = sorted(used - {key for key, value in environment.items() if value})
    assert not missing, f"vector.yml reads variables the vector service does not get: {missing}"

    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        return environment[name] if name else "$"

    return yaml.safe_load(VECTOR_VARIABLE.sub(value, text))


def test_log_stack(rendered: Rendered):
    services = rendered.config["services"]
    if not rendered.answers.get("enable_logs", False):
        assert not {"analytics", "vector"} & set(services)
        assert not {key for key in rendered.env if key.startswith("LOGFLARE_")}
        return
    # Logflare's port is never published (upstream's 2026-02 fix: /dashboard was reachable).
    assert "ports" not in services["analytics"] and "ports" not in services["vector"]
    assert services["analytics"]["environment"]["LOGFLARE_SINGLE_TENANT"] == "true"
    studio = services["studio"]["environment"]
    # Compared apart: a failing assert never prints a token.
    studio_reads_with_private_token = (
        studio["LOGFLARE_PRIVATE_ACCESS_TOKEN"] == rendered.env["LOGFLARE_PRIVATE_ACCESS_TOKEN"]
    )
    tokens_differ = (
        rendered.env["LOGFLARE_PUBLIC_ACCESS_TOKEN"] != rendered.env["LOGFLARE_PRIVATE_ACCESS_TOKEN"]
    )
    assert studio_reads_with_private_token and tokens_differ
    socket = next(v for v in services["vector"]["volumes"] if v["target"] == "/var/run/docker.sock")
    assert socket["read_only"] is True
    assert socket["source"] == rendered.env["DOCKER_SOCKET_LOCATION"] == "/var/run/docker.sock"
    # A wrong path fails instead of making a directory (Compose's short syntax would create it).
    assert not socket.get("bind", {}).get("create_host_path")
    assert "LOGFLARE_PRIVATE_ACCESS_TOKEN" not in services["vector"]["environment"]
    assert any(
        v["target"] == "/docker-entrypoint-initdb.d/migrations/99-logs.sql" for v in services["db"]["volumes"]
    )
    config = vector_config(rendered)
    assert_vector_ships_only_this_instances_logs(rendered, config)
    assert_vector_pipeline_is_connected(config)


def assert_vector_ships_only_this_instances_logs(rendered: Rendered, config: dict) -> None:
    project = rendered.answers["project_name"]
    (source,) = config["sources"].values()
    assert source["type"] == "docker_logs"
    # Isolation: an exact match on the Compose project label, Vector's own container left out.
    assert source["include_labels"] == [f"com.docker.compose.project={project}"]
    assert source["exclude_containers"] == [f"{project}_vector"]
    assert not {"include_containers", "include_images", "docker_host"} & set(source)
    routes = next(t["route"] for t in config["transforms"].values() if t["type"] == "route")
    for name, condition in routes.items():
        assert condition == f'.appname == "{project}_{name}"', name
    assert set(routes) <= set(rendered.config["services"]) | {"functions"}
    for sink in config["sinks"].values():
        assert sink["uri"].startswith("http://analytics:4000/api/logs?source_name="), sink["uri"]
        uses_public_token = (
            sink["request"]["headers"]["x-api-key"] == rendered.env["LOGFLARE_PUBLIC_ACCESS_TOKEN"]
        )
        assert uses_public_token, "a Vector sink does not send the public Logflare token"


def assert_vector_pipeline_is_connected(config: dict) -> None:
    """Every input names a component that exists, every route output and transform is consumed."""
    transforms, sinks = config["transforms"], config["sinks"]
    outputs = set(config["sources"]) | set(transforms)
    for name, transform in transforms.items():
        if transform["type"] == "route":
            outputs |= {f"{name}.{route}" for route in transform["route"]}
    consumed = set()
    for name, component in {**transforms, **sinks}.items():
        unknown = set(component["inputs"]) - outputs
        assert not unknown, f"{name} reads from components that do not exist: {unknown}"
        consumed |= set(component["inputs"])
    route_transforms = {name for name, t in transforms.items() if t["type"] == "route"}
    assert outputs - route_transforms - consumed == set(), "components whose output goes nowhere"
    assert {t["type"] for t in transforms.values()} == {"remap", "route"}
    assert all(t["source"].strip() for t in transforms.values() if t["type"] == "remap")
