"""Rotating secrets against a real PostgreSQL holding the Supabase roles.

The database step runs through the same SqlRunner seam scripts/generate_secrets.py uses,
backed here by the real psql client on a throwaway cluster instead of `docker compose exec`.

PYTEST_DONT_REWRITE: a failing assert must not print the secrets it compares.
"""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import jwt
import psycopg
import pytest
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import rotation
from supabase_ops.envfile import EnvFile
from supabase_ops.project import OpsError
from supabase_ops.secrets import check_env

DB_VOLUME = ROOT / "template" / "docker" / "volumes" / "db"
# STAND-IN for the two tables of Supavisor's schema this rotation touches (from its
# priv/repo/migrations: tenants, and users referencing tenants ON DELETE CASCADE).
SUPAVISOR_TABLES = """
CREATE TABLE _supavisor.tenants (
  id uuid PRIMARY KEY, external_id text NOT NULL UNIQUE, db_host text NOT NULL
);
CREATE TABLE _supavisor.users (
  id uuid PRIMARY KEY,
  db_user text NOT NULL,
  db_pass_encrypted bytea NOT NULL,
  tenant_external_id text REFERENCES _supavisor.tenants (external_id) ON DELETE CASCADE
);
INSERT INTO _supavisor.tenants VALUES
  ('00000000-0000-0000-0000-000000000001', 'acme-shop', 'db'),
  ('00000000-0000-0000-0000-000000000002', 'another-tenant', 'db');
INSERT INTO _supavisor.users VALUES
  ('00000000-0000-0000-0000-000000000011', 'pgbouncer', 'old', 'acme-shop'),
  ('00000000-0000-0000-0000-000000000012', 'pgbouncer', 'old', 'another-tenant');
"""
PASSWORDLESS_ROLE = "supabase_read_only_user"  # upstream keeps it without a password


def runner(cluster) -> rotation.SqlRunner:
    """Like Project.psql: SQL on stdin, an OpsError with psql's message on failure."""

    def run(sql: str, database: str) -> str:
        try:
            return cluster.psql(sql, database=database)
        except AssertionError as error:
            raise OpsError(str(error)) from None

    return run


@pytest.fixture
def project(default_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "acme-shop"
    shutil.copytree(default_project, copy)
    return copy


@pytest.fixture
def database(supabase_cluster, project):
    """The cluster as the first start leaves it: every login role on POSTGRES_PASSWORD
    (except the read-only one), the JWT setting, _supabase with a pooler tenant; and
    every statement logged, so the tests can look for secrets in the server log."""
    values = EnvFile.load(project / "docker" / ".env").values()
    env = {"POSTGRES_USER": "supabase_admin", "JWT_SECRET": values["JWT_SECRET"], "JWT_EXP": "3600"}
    roles = [role for role in rotation.LOGIN_ROLES if role != PASSWORDLESS_ROLE]
    # As roles.sql does: the password reaches psql through the environment.
    supabase_cluster.psql(
        '\\set pgpass `echo "$PGPASS_VALUE"`\n'
        + "".join(f"ALTER ROLE {role} PASSWORD :'pgpass';\n" for role in roles),
        env_extra={"PGPASS_VALUE": values["POSTGRES_PASSWORD"]},
    )
    supabase_cluster.password = values["POSTGRES_PASSWORD"]  # supabase_admin's too, as in the image
    supabase_cluster.psql((DB_VOLUME / "jwt.sql").read_text(), env_extra=env)
    supabase_cluster.psql((DB_VOLUME / "_supabase.sql").read_text(), env_extra=env)
    supabase_cluster.psql((DB_VOLUME / "pooler.sql").read_text(), env_extra=env)
    supabase_cluster.psql(SUPAVISOR_TABLES, database="_supabase")
    supabase_cluster.psql("ALTER SYSTEM SET log_statement = 'all';\nSELECT pg_reload_conf();\n")
    return supabase_cluster


def logs_in(cluster, role: str, password: str) -> bool:
    try:
        with psycopg.connect(cluster.dsn(user=role, password=password), connect_timeout=10) as connection:
            return connection.execute("SELECT current_user").fetchone()[0] == role
    except psycopg.OperationalError:
        return False


def server_log(cluster) -> str:
    return (cluster.base / "log").read_text(errors="replace")


def env_lines(project: Path) -> list[str]:
    return (project / "docker" / ".env").read_text().splitlines()


def changed_keys(before: list[str], after: list[str]) -> set[str]:
    assert len(before) == len(after)
    return {a.split("=", 1)[0] for a, b in zip(after, before) if a != b}


# ---------------------------------------------------------------------- db-password
@pytest.mark.postgres
def test_db_password_rotation_changes_every_role_and_env_together(database, project):
    env_path = project / "docker" / ".env"
    before_bytes, before = env_path.read_bytes(), env_lines(project)
    old = EnvFile.load(env_path).get("POSTGRES_PASSWORD")
    roles = [role for role in rotation.LOGIN_ROLES if role != PASSWORDLESS_ROLE]
    assert all(logs_in(database, role, old) for role in roles)

    result = rotation.rotate(env_path, "db-password", runner(database))

    new = EnvFile.load(env_path).get("POSTGRES_PASSWORD")
    database.password = new  # the test's own admin connection is supabase_admin
    assert new != old and len(new) == 48
    assert changed_keys(before, env_lines(project)) == {"POSTGRES_PASSWORD"}
    assert [role for role in roles if not logs_in(database, role, new)] == []
    assert [role for role in roles if logs_in(database, role, old)] == []
    assert result.changed == ["POSTGRES_PASSWORD"] and "supabase_auth_admin" in result.database
    # The role upstream keeps without a password still has none.
    passwordless = "SELECT rolname FROM pg_authid WHERE rolcanlogin AND rolpassword IS NULL"
    assert PASSWORDLESS_ROLE in database.psql(passwordless).split()
    # Only SCRAM verifiers reached the server: the password is in no log line.
    assert (
        database.psql("SELECT count(*) FROM pg_authid WHERE rolpassword NOT LIKE 'SCRAM-SHA-256$%'").strip()
        == "0"
    )
    assert "SELECT rolname FROM pg_authid" in server_log(database)  # the log records statements
    assert new not in server_log(database)
    # The previous file is kept, private, byte for byte; nothing pending is left.
    assert result.previous.read_bytes() == before_bytes
    assert stat.S_IMODE(result.previous.stat().st_mode) == 0o600
    assert stat.S_IMODE(env_path.stat().st_mode) == 0o600
    assert not (project / "docker" / ".env.pending").exists()


@pytest.mark.postgres
def test_db_password_rotation_forgets_only_this_instances_pooler_tenant(database, project):
    rotation.rotate(project / "docker" / ".env", "db-password", runner(database))
    database.password = EnvFile.load(project / "docker" / ".env").get("POSTGRES_PASSWORD")
    tenants = database.psql("SELECT external_id FROM _supavisor.tenants ORDER BY 1", database="_supabase")
    users = database.psql("SELECT tenant_external_id FROM _supavisor.users ORDER BY 1", database="_supabase")
    assert tenants.split() == ["another-tenant"] and users.split() == ["another-tenant"]


@pytest.mark.postgres
def test_a_failing_database_step_leaves_everything_as_it_was(database, project):
    """The role changes run in one transaction: a failure in the middle rolls all back."""
    env_path = project / "docker" / ".env"
    before = env_path.read_bytes()
    old = EnvFile.load(env_path).get("POSTGRES_PASSWORD")
    real = runner(database)

    def failing_midway(sql: str, database_name: str) -> str:
        if "ALTER ROLE" in sql:  # fail after the first ALTER, inside the transaction
            first_alter_end = sql.index(";\n", sql.index("ALTER ROLE")) + 2
            sql = sql[:first_alter_end] + "SELECT 1 / 0;\n" + sql[first_alter_end:]
        return real(sql, database_name)

    with pytest.raises(OpsError, match="division by zero") as raised:
        rotation.rotate(env_path, "db-password", failing_midway)
    assert "docker/.env was not changed" in str(raised.value)
    assert env_path.read_bytes() == before
    assert sorted(p.name for p in env_path.parent.glob(".env*")) == [".env", ".env.example"]
    assert logs_in(database, "postgres", old) and logs_in(database, "authenticator", old)


def test_rotation_needing_the_database_refuses_without_it(project):
    env_path = project / "docker" / ".env"
    before = env_path.read_bytes()
    with pytest.raises(OpsError, match="needs the running database"):
        rotation.rotate(env_path, "db-password", None)
    assert env_path.read_bytes() == before
    assert sorted(p.name for p in env_path.parent.glob(".env*")) == [".env", ".env.example"]


def test_database_errors_never_carry_a_secret(project):
    """psql quotes the failing statement; the message the user sees has it redacted."""
    env_path = project / "docker" / ".env"

    def echoing_failure(sql: str, database_name: str) -> str:
        raise OpsError(f"psql: ERROR: something failed\nSTATEMENT: {sql}")

    with pytest.raises(OpsError) as raised:
        rotation.rotate(env_path, "jwt", echoing_failure)
    message = str(raised.value)
    current = EnvFile.load(env_path).values()
    assert "<redacted>" in message and "ALTER DATABASE" in message
    assert current["JWT_SECRET"] not in message


# ---------------------------------------------------------------------- jwt
@pytest.mark.postgres
def test_jwt_rotation_resigns_keys_keeps_the_ec_key_and_updates_the_database(database, project):
    env_path = project / "docker" / ".env"
    before = env_lines(project)
    old = EnvFile.load(env_path).values()

    rotation.rotate(env_path, "jwt", runner(database))

    new = EnvFile.load(env_path).values()
    assert changed_keys(before, env_lines(project)) == {
        "JWT_SECRET",
        "ANON_KEY",
        "SERVICE_ROLE_KEY",
        "JWT_KEYS",
        "JWT_JWKS",
    }
    secret = new["JWT_SECRET"]
    assert secret != old["JWT_SECRET"] and len(secret) >= 32
    for key, role in (("ANON_KEY", "anon"), ("SERVICE_ROLE_KEY", "service_role")):
        assert jwt.decode(new[key], secret, algorithms=["HS256"])["role"] == role
        with pytest.raises(jwt.InvalidSignatureError):
            jwt.decode(new[key], old["JWT_SECRET"], algorithms=["HS256"])
    old_ec, new_ec = json.loads(old["JWT_KEYS"])[0], json.loads(new["JWT_KEYS"])[0]
    assert new_ec == old_ec  # the signing key, and so the ES256 tokens, are kept
    jwks = jwt.PyJWKSet.from_dict(json.loads(new["JWT_JWKS"]))
    assert jwt.decode(new["ANON_KEY_ASYMMETRIC"], jwks.keys[0].key, algorithms=["ES256"])["role"] == "anon"
    assert jwt.decode(new["ANON_KEY"], jwks.keys[1].key, algorithms=["HS256"])["role"] == "anon"
    assert check_env(new, set(new)).problems == []
    # A new session sees the new setting; the statement carrying it was not logged.
    with psycopg.connect(database.dsn()) as connection:
        assert connection.execute("SELECT current_setting('app.settings.jwt_secret')").fetchone()[0] == secret
    assert "current_setting('app.settings.jwt_secret')" in server_log(database)
    assert secret not in server_log(database)


# ---------------------------------------------------------------------- without the database
def test_api_keys_rotation(project):
    env_path = project / "docker" / ".env"
    before = env_lines(project)
    old = EnvFile.load(env_path).values()
    result = rotation.rotate(env_path, "api-keys")
    new = EnvFile.load(env_path).values()
    assert changed_keys(before, env_lines(project)) == {"SUPABASE_PUBLISHABLE_KEY", "SUPABASE_SECRET_KEY"}
    assert new["SUPABASE_SECRET_KEY"] != old["SUPABASE_SECRET_KEY"]
    assert check_env(new, set(new)).problems == []
    assert result.previous.read_text().splitlines() == before


def test_dashboard_rotation(project):
    env_path = project / "docker" / ".env"
    before = env_lines(project)
    rotation.rotate(env_path, "dashboard")
    new = EnvFile.load(env_path).values()
    assert changed_keys(before, env_lines(project)) == {"DASHBOARD_PASSWORD", "DASHBOARD_PASSWORD_HASH"}
    assert bcrypt.checkpw(
        new["DASHBOARD_PASSWORD"].encode(), base64.b64decode(new["DASHBOARD_PASSWORD_HASH"])
    )


def test_two_rotations_keep_two_previous_copies(project):
    env_path = project / "docker" / ".env"
    first = rotation.rotate(env_path, "api-keys").previous
    second = rotation.rotate(env_path, "api-keys").previous
    assert first != second and first.exists() and second.exists()


# ---------------------------------------------------------------------- the command line
def run_script(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(project / "scripts" / "generate_secrets.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=project,
    )


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


@pytest.mark.docker
def test_cli_refuses_db_rotation_while_the_database_is_stopped(render):
    if not docker_available():
        pytest.skip("no Docker engine: run .ci/provision.sh")
    project = render(project_name="rotation-stopped")
    before = (project / "docker" / ".env").read_bytes()
    done = run_script(project, "--rotate", "db-password")
    assert done.returncode == 1
    assert "not running" in done.stderr and "scripts/start.py" in done.stderr
    assert "Traceback" not in done.stderr
    assert (project / "docker" / ".env").read_bytes() == before


def test_cli_show_prints_exactly_one_value(project):
    values = EnvFile.load(project / "docker" / ".env").values()
    done = run_script(project, "--show", "ANON_KEY")
    assert done.returncode == 0 and done.stdout == values["ANON_KEY"] + "\n"
    missing = run_script(project, "--show", "NO_SUCH_KEY")
    assert missing.returncode == 1 and "no key 'NO_SUCH_KEY'" in missing.stderr


def test_cli_check_reports_each_problem_and_fails(project):
    env_path = project / "docker" / ".env"
    env = EnvFile.load(env_path)
    env.set("VAULT_ENC_KEY", "too-short")
    env.set("JWT_SECRET", "your-super-secret-jwt-token-with-at-least-32-characters-long")
    env.write()
    done = run_script(project, "--check")
    assert done.returncode == 1
    assert "VAULT_ENC_KEY must be exactly 32 characters" in done.stdout
    assert "JWT_SECRET is a published demo" in done.stdout
    production = run_script(project, "--production")
    assert production.returncode == 1 and "production rules" in production.stdout
