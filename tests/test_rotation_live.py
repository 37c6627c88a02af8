"""scripts/generate_secrets.py --rotate against a running instance, end to end.

The database runs in Docker on the test image supabase-test/postgres (Debian's PostgreSQL 15
booting like supabase/postgres: the Supabase roles, then the project's own init SQL). The
other services are switched off through docker/docker-compose.override.yml, which the
project's scripts read like any user's override. The script does everything itself: SQL
through `docker compose exec db psql` on stdin, docker/.env, and `docker compose up -d`.

PYTEST_DONT_REWRITE: a failing assert must not print the secrets it compares.
"""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import pytest
import yaml
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from standins.engine import PROJECT_PREFIX
from supabase_ops.envfile import EnvFile
from supabase_ops.project import Project
from supabase_ops.rotation import LOGIN_ROLES

PORT_OFFSET = 300  # the smoke instances use 0 and 100
# What the services log in as (docker-compose.yml), so these must have POSTGRES_PASSWORD.
CORE_ROLES = ("postgres", "supabase_admin", "authenticator", "supabase_auth_admin", "supabase_storage_admin")


@pytest.fixture
def running_db(render, standin_images):
    project = render(project_name=f"{PROJECT_PREFIX}rotation", port_offset=PORT_OFFSET)
    services = yaml.safe_load((project / "docker" / "docker-compose.yml").read_text())["services"]
    override = {"db": {"image": standin_images["postgres"], "pull_policy": "never"}}
    override.update({name: {"profiles": ["off-in-this-test"]} for name in services if name != "db"})
    (project / "docker" / "docker-compose.override.yml").write_text(yaml.safe_dump({"services": override}))
    instance = Project(project)
    try:
        instance.compose("up", "-d", "--wait", "--wait-timeout", "180", "db", capture=True)
        yield instance
    finally:
        instance.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False, capture=True)


def connect(instance: Project, role: str, password: str):
    return psycopg.connect(
        host="127.0.0.1",
        port=int(instance.env["POSTGRES_HOST_PORT"]),
        user=role,
        password=password,
        dbname="postgres",
        connect_timeout=5,
    )


def logs_in(instance: Project, role: str, password: str) -> bool:
    try:
        with connect(instance, role, password):
            return True
    except psycopg.OperationalError:
        return False


def wait_until_accepting(instance: Project, password: str) -> None:
    """The script recreates db without waiting: poll until it accepts connections again."""
    for _ in range(120):
        if logs_in(instance, "postgres", password):
            return
        time.sleep(1)
    pytest.fail("the recreated db container did not accept the new password within 2 minutes")


def container_id(instance: Project) -> str:
    return instance.compose("ps", "-q", "db", capture=True).stdout.decode().strip()


def generate_secrets(instance: Project, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(instance.root / "scripts" / "generate_secrets.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def leaked(output: str, values: dict[str, str], keys) -> list[str]:
    return [key for key in keys if values[key] in output]


@pytest.mark.docker
@pytest.mark.slow
def test_rotating_db_password_and_jwt_of_a_running_instance(running_db):
    instance = running_db
    old = instance.env
    # The roles the image and roles.sql gave POSTGRES_PASSWORD (the others have none).
    roles = [role for role in LOGIN_ROLES if logs_in(instance, role, old["POSTGRES_PASSWORD"])]
    assert set(CORE_ROLES) <= set(roles), (
        f"these roles do not log in before rotating: {set(CORE_ROLES) - set(roles)}"
    )
    before_id = container_id(instance)

    done = generate_secrets(instance, "--rotate", "db-password")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rotated POSTGRES_PASSWORD" in done.stdout and "services recreated" in done.stdout
    new = EnvFile.load(instance.env_path).values()
    assert (
        leaked(
            done.stdout + done.stderr, {**new, "OLD": old["POSTGRES_PASSWORD"]}, ["POSTGRES_PASSWORD", "OLD"]
        )
        == []
    )
    assert container_id(instance) != before_id, "db was not recreated with the new environment"
    wait_until_accepting(instance, new["POSTGRES_PASSWORD"])
    # After the restart, every role logs in with the new password and none with the old one.
    refused = [role for role in roles if not logs_in(instance, role, new["POSTGRES_PASSWORD"])]
    assert refused == [], f"refused with the new password: {refused}"
    still_old = [role for role in LOGIN_ROLES if logs_in(instance, role, old["POSTGRES_PASSWORD"])]
    assert still_old == [], f"still accept the old password: {still_old}"

    done = generate_secrets(instance, "--rotate", "jwt")
    assert done.returncode == 0, done.stderr[-2000:]
    rotated = EnvFile.load(instance.env_path).values()
    assert rotated["JWT_SECRET"] != new["JWT_SECRET"]
    assert leaked(done.stdout + done.stderr, rotated, ["JWT_SECRET", "ANON_KEY", "SERVICE_ROLE_KEY"]) == []
    wait_until_accepting(instance, rotated["POSTGRES_PASSWORD"])
    with connect(instance, "postgres", rotated["POSTGRES_PASSWORD"]) as connection:
        setting = connection.execute("SELECT current_setting('app.settings.jwt_secret')").fetchone()[0]
    assert setting == rotated["JWT_SECRET"], "app.settings.jwt_secret was not updated"
    assert len(list(instance.docker_dir.glob(".env.previous-*"))) == 2
