"""Kong's declarative config: the official route set, and secrets substituted byte for byte.

The substitution test runs the real docker/volumes/api/kong-entrypoint.sh with the real POSIX
sh (dash) and awk (mawk) of a Debian container, as in the kong image, with hostile values and a
stub in place of Kong's /entrypoint.sh; the YAML it writes is then parsed.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

BASE_IMAGE = "local/debian:bookworm"

# route name -> (paths, plugins in order) of the official 2026 set, plus our rate limits.
API_KEY_PLUGINS = ["cors", "key-auth", "request-transformer", "acl"]
EXPECTED_ROUTES = {
    "auth-v1-open-verify": (["/auth/v1/verify"], ["cors", "rate-limiting"]),
    "auth-v1-open-callback": (["/auth/v1/callback"], ["cors"]),
    "auth-v1-open-authorize": (["/auth/v1/authorize"], ["cors"]),
    "auth-v1-open-jwks": (["/auth/v1/.well-known/jwks.json"], ["cors"]),
    "auth-v1-open-sso-acs": (["/sso/saml/acs"], ["cors"]),
    "auth-v1-open-sso-metadata": (["/sso/saml/metadata"], ["cors"]),
    "well-known-oauth": (["/.well-known/oauth-authorization-server"], ["cors"]),
    "auth-v1-all": (["/auth/v1/"], [*API_KEY_PLUGINS, "rate-limiting"]),
    "rest-v1-all": (["/rest/v1/"], API_KEY_PLUGINS),
    "graphql-v1-all": (["/graphql/v1"], API_KEY_PLUGINS),
    "realtime-v1-ws": (["/realtime/v1/"], API_KEY_PLUGINS),
    "realtime-v1-blocked": (
        ["/realtime/v1/api/tenants", "/realtime/v1/api/openapi"],
        ["request-termination"],
    ),
    "realtime-v1-rest": (["/realtime/v1/api"], API_KEY_PLUGINS),
    "storage-v1-all": (["/storage/v1/"], ["cors", "request-transformer", "post-function"]),
    "functions-v1-all": (["/functions/v1/"], ["cors", "request-transformer", "post-function"]),
    "meta-all": (["/pg/"], ["key-auth", "acl"]),
    "mcp-blocked": (["/api/mcp", "/mcp"], ["request-termination"]),
    "dashboard-all": (["/"], ["cors", "basic-auth"]),
}

# Values no secret generator produces, to prove the substitution does not care.
HOSTILE = {
    "DASHBOARD_USERNAME": 'ad"min\\',
    "DASHBOARD_PASSWORD": "p$a\"s\\s`w'o${HOME}r$(id)d\\n&|ü€\ttab",
    "REDIS_PASSWORD": "r$d'\"is\\\\${SUPABASE_ANON_KEY}\nsecond line",
    "AUTH_RATE_LIMIT_PER_MINUTE": "42",
}
# API keys are embedded in Lua: the entrypoint accepts only their own alphabet.
API_KEYS = {
    "SUPABASE_ANON_KEY": "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.anon-sig_1",
    "SUPABASE_SERVICE_KEY": "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.service-sig_2",
    "SUPABASE_PUBLISHABLE_KEY": "sb_publishable_AbC-12_x9",
    "SUPABASE_SECRET_KEY": "sb_secret_DeF-34_y8",
    "ANON_KEY_ASYMMETRIC": "eyJhbGciOiJFUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.es-anon",
    "SERVICE_ROLE_KEY_ASYMMETRIC": "eyJhbGciOiJFUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.es-service",
}


def routes_of(config: dict) -> dict[str, tuple[list[str], list[str]]]:
    found = {}
    for service in config["services"]:
        plugins = [plugin["name"] for plugin in service.get("plugins", [])]
        for route in service["routes"]:
            found[route["name"]] = (route["paths"], plugins)
    return found


def plugin(config: dict, route_name: str, name: str) -> dict:
    for service in config["services"]:
        if any(route["name"] == route_name for route in service["routes"]):
            return next(p for p in service["plugins"] if p["name"] == name)
    raise AssertionError(f"route {route_name} not found")


@pytest.fixture(scope="module")
def project(render) -> Path:
    return render(project_name="kong-check")


def check_route_set(config: dict, with_functions: bool = True) -> None:
    expected = {
        name: value for name, value in EXPECTED_ROUTES.items() if with_functions or "functions" not in name
    }
    assert routes_of(config) == expected
    assert plugin(config, "meta-all", "acl")["config"]["allow"] == ["admin"]
    for route in ("auth-v1-all", "rest-v1-all", "graphql-v1-all", "realtime-v1-ws", "realtime-v1-rest"):
        assert plugin(config, route, "acl")["config"]["allow"] == ["admin", "anon"]
    blocked = plugin(config, "realtime-v1-blocked", "request-termination")["config"]
    assert blocked["status_code"] == 403
    assert plugin(config, "dashboard-all", "basic-auth")["config"]["hide_credentials"] is True
    assert {entry["group"] for entry in config["acls"]} == {"anon", "admin"}


def test_route_set_as_rendered(project: Path):
    """The template's kong.yml, placeholders still in it, already is valid YAML with every route."""
    check_route_set(yaml.safe_load((project / "docker" / "volumes" / "api" / "kong.yml").read_text()))


def test_route_set_without_functions_or_redis(render):
    project = render(project_name="kong-bare", enable_functions=False, enable_redis=False)
    config = yaml.safe_load((project / "docker" / "volumes" / "api" / "kong.yml").read_text())
    check_route_set(config, with_functions=False)
    assert plugin(config, "auth-v1-all", "rate-limiting")["config"]["policy"] == "local"


def docker_image(image: str) -> None:
    try:
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    except FileNotFoundError:
        pytest.skip("docker is not installed (CI provisions it with .ci/provision.sh)")
    if found.returncode != 0:
        pytest.skip(f"image {image} is missing (.ci/provision.sh builds it with debootstrap)")


def run_entrypoint(project: Path, tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess:
    """The real entrypoint in a Debian container: dash, mawk, sed; values through the environment."""
    docker_image(BASE_IMAGE)
    out = tmp_path / "out"
    out.mkdir()
    stub = tmp_path / "entrypoint.sh"
    stub.write_text('#!/bin/sh\nprintf "%s\\n" "$*" > /out/started-with\n')
    stub.chmod(0o755)
    api = project / "docker" / "volumes" / "api"
    command = ["docker", "run", "--rm", "--network", "none"]
    command += ["-v", f"{api / 'kong.yml'}:/home/kong/temp.yml:ro"]
    command += ["-v", f"{api / 'kong-entrypoint.sh'}:/home/kong/kong-entrypoint.sh:ro"]
    command += ["-v", f"{stub}:/entrypoint.sh:ro", "-v", f"{out}:/out"]
    command += ["-e", "KONG_DECLARATIVE_CONFIG=/out/kong.yml"]
    for name in values:
        command += ["-e", name]  # the value comes from this process's environment, never argv
    command += [BASE_IMAGE, "/bin/sh", "/home/kong/kong-entrypoint.sh"]
    return subprocess.run(
        command, env={**os.environ, **values}, capture_output=True, text=True, check=False, timeout=120
    )


def test_entrypoint_substitutes_hostile_values_byte_for_byte(project: Path, tmp_path: Path):
    values = {**HOSTILE, **API_KEYS}
    done = run_entrypoint(project, tmp_path, values)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "started-with").read_text() == "kong docker-start\n"
    config = yaml.safe_load((tmp_path / "out" / "kong.yml").read_text(encoding="utf-8"))

    check_route_set(config)
    basic = config["basicauth_credentials"][0]
    identical = (
        basic["username"] == HOSTILE["DASHBOARD_USERNAME"]
        and basic["password"] == HOSTILE["DASHBOARD_PASSWORD"]
    )
    assert identical, "the dashboard credentials changed on their way into kong.yml"
    redis = plugin(config, "auth-v1-all", "rate-limiting")["config"]
    assert redis["redis"]["password"] == HOSTILE["REDIS_PASSWORD"], "the Redis password changed"
    assert redis["minute"] == 42 and redis["policy"] == "redis"
    keys = {c["username"]: [k["key"] for k in c.get("keyauth_credentials", [])] for c in config["consumers"]}
    assert keys == {
        "DASHBOARD": [],
        "anon": [API_KEYS["SUPABASE_ANON_KEY"], API_KEYS["SUPABASE_PUBLISHABLE_KEY"]],
        "service_role": [API_KEYS["SUPABASE_SERVICE_KEY"], API_KEYS["SUPABASE_SECRET_KEY"]],
    }
    # Opaque keys become the matching ES256 JWT upstream; user tokens pass through.
    auth_header = plugin(config, "rest-v1-all", "request-transformer")["config"]["add"]["headers"][0]
    assert auth_header.startswith("Authorization: $(")
    assert f"headers.apikey == '{API_KEYS['SUPABASE_SECRET_KEY']}'" in auth_header
    assert f"'Bearer {API_KEYS['SERVICE_ROLE_KEY_ASYMMETRIC']}'" in auth_header
    assert "'Bearer sb_'" in auth_header


def test_entrypoint_drops_unset_opaque_keys(project: Path, tmp_path: Path):
    values = {**HOSTILE, **API_KEYS, "SUPABASE_PUBLISHABLE_KEY": "", "SUPABASE_SECRET_KEY": ""}
    done = run_entrypoint(project, tmp_path, values)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "out" / "kong.yml").read_text(encoding="utf-8"))
    keys = {c["username"]: [k["key"] for k in c.get("keyauth_credentials", [])] for c in config["consumers"]}
    assert keys["anon"] == [API_KEYS["SUPABASE_ANON_KEY"]]
    assert keys["service_role"] == [API_KEYS["SUPABASE_SERVICE_KEY"]]
    auth_header = plugin(config, "rest-v1-all", "request-transformer")["config"]["add"]["headers"][0]
    assert "sb_secret" not in auth_header and auth_header.endswith("or headers.apikey)")


def test_entrypoint_refuses_an_api_key_that_could_break_lua(project: Path, tmp_path: Path):
    values = {**HOSTILE, **API_KEYS, "SUPABASE_SECRET_KEY": "sb_secret_x' or true --"}
    done = run_entrypoint(project, tmp_path, values)
    assert done.returncode != 0
    assert "SUPABASE_SECRET_KEY has characters an API key never has" in done.stderr
    assert not (tmp_path / "out" / "started-with").exists(), "Kong started with a broken config"


def test_entrypoint_names_a_missing_variable(project: Path, tmp_path: Path):
    values = {name: value for name, value in {**HOSTILE, **API_KEYS}.items() if name != "DASHBOARD_PASSWORD"}
    done = run_entrypoint(project, tmp_path, values)
    assert done.returncode != 0
    assert "needs DASHBOARD_PASSWORD, which is not set" in done.stderr
    assert not (tmp_path / "out" / "started-with").exists()
