"""Rotating secrets: new values in docker/.env and in the running database, together.

The database step takes an SqlRunner, a function that runs SQL (sent on stdin) in a
database and returns its output: scripts/generate_secrets.py passes one backed by
`docker compose exec db psql`, the tests one backed by a throwaway PostgreSQL.

Order, so that a failure never leaves .env and the database disagreeing:
  1. the new .env is written beside the old one (docker/.env.pending, 0600) and a copy of
     the old one is kept (docker/.env.previous-<time>);
  2. the database step runs; if it fails, both files are removed and .env is untouched;
  3. the pending file atomically replaces docker/.env.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from . import secrets
from .envfile import EnvFile, keep_copy
from .project import OpsError

SqlRunner = Callable[[str, str], str]  # (sql, database) -> output

# Every Supabase role that logs in with POSTGRES_PASSWORD (those that exist and have one).
LOGIN_ROLES = (
    "postgres",
    "supabase_admin",
    "authenticator",
    "pgbouncer",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_functions_admin",
    "supabase_replication_admin",
    "supabase_read_only_user",
)
# Keeps statements that carry a secret out of the server log, pgaudit and pg_stat_statements
# (the image preloads both), whatever their settings. Unknown settings are harmless here.
_QUIET_SESSION = (
    "SET log_statement = 'none';\nSET pgaudit.log = 'none';\nSET pg_stat_statements.track_utility = off;\n"
)


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores: sending it instead of the password
    means the password itself never reaches the server, its logs or its statistics."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


# ---------------------------------------------------------------------- database steps
def change_role_passwords(run: SqlRunner, password: str) -> list[str]:
    """Give every Supabase login role that has a password the new one, in one transaction."""
    names = ", ".join(sql_literal(role) for role in LOGIN_ROLES)
    query = f"SELECT rolname FROM pg_authid WHERE rolname IN ({names})"  # noqa: S608 - quoted constants
    found = run(f"{query} AND rolcanlogin AND rolpassword IS NOT NULL ORDER BY rolname;", "postgres").split()
    if not found:
        raise OpsError("no Supabase login role with a password was found: is this a Supabase database?")
    statements = "".join(
        f"ALTER ROLE {sql_identifier(role)} WITH PASSWORD {sql_literal(scram_verifier(password))};\n"
        for role in found
    )
    run(f"{_QUIET_SESSION}BEGIN;\n{statements}COMMIT;\n", "postgres")
    return found


def forget_pooler_tenant(run: SqlRunner, tenant_id: str) -> None:
    """Supavisor keeps the pgbouncer password in its tenant (database _supabase, schema
    _supavisor). Deleting the tenant (its users go with it) lets pooler.exs create it again,
    with the new password, when Supavisor restarts; until then it serves from its cache."""
    exists = run("SELECT 1 FROM pg_database WHERE datname = '_supabase';", "postgres").strip()
    if not exists:
        return
    tenant = sql_literal(tenant_id)
    # The tenant id is quoted by sql_literal.
    forget_links = f"DELETE FROM _supavisor.cluster_tenants WHERE tenant_external_id = {tenant}"  # noqa: S608
    forget_tenant = f"DELETE FROM _supavisor.tenants WHERE external_id = {tenant}"  # noqa: S608
    run(
        "DO $forget$ BEGIN\n"
        "  IF to_regclass('_supavisor.cluster_tenants') IS NOT NULL THEN\n"
        f"    {forget_links};\n"
        "  END IF;\n"
        "  IF to_regclass('_supavisor.tenants') IS NOT NULL THEN\n"
        f"    {forget_tenant};\n"
        "  END IF;\n"
        "END $forget$;\n",
        "_supabase",
    )


def set_database_jwt_secret(run: SqlRunner, jwt_secret: str) -> None:
    """What volumes/db/jwt.sql set at the first start: current_setting('app.settings.jwt_secret')."""
    secret = sql_literal(jwt_secret)
    run(f'{_QUIET_SESSION}ALTER DATABASE postgres SET "app.settings.jwt_secret" TO {secret};\n', "postgres")


# ---------------------------------------------------------------------- what each rotation changes
def _new_db_password(values: Mapping[str, str]) -> dict[str, str]:
    return {"POSTGRES_PASSWORD": secrets.SECRETS["POSTGRES_PASSWORD"].make(values)}


def _db_password_step(run: SqlRunner, values: Mapping[str, str], new: Mapping[str, str]) -> str:
    forget_pooler_tenant(run, values.get("POOLER_TENANT_ID") or values.get("PROJECT_NAME", ""))
    roles = change_role_passwords(run, new["POSTGRES_PASSWORD"])
    return f"new password set for {', '.join(roles)}"


def _new_jwt_secret(values: Mapping[str, str]) -> dict[str, str]:
    """New JWT_SECRET and everything signed with it; the EC signing key is kept."""
    jwt_secret = secrets.SECRETS["JWT_SECRET"].make(values)
    new = {
        "JWT_SECRET": jwt_secret,
        "ANON_KEY": secrets.hs256_token("anon", jwt_secret),
        "SERVICE_ROLE_KEY": secrets.hs256_token("service_role", jwt_secret),
    }
    if values.get("JWT_KEYS"):
        key_set = secrets.private_key_set(jwt_secret, secrets.signing_jwk(json.loads(values["JWT_KEYS"])))
        new["JWT_KEYS"] = json.dumps(key_set, separators=(",", ":"))
        new["JWT_JWKS"] = json.dumps(secrets.public_key_set(key_set), separators=(",", ":"))
    return new


def _jwt_step(run: SqlRunner, values: Mapping[str, str], new: Mapping[str, str]) -> str:
    set_database_jwt_secret(run, new["JWT_SECRET"])
    return "app.settings.jwt_secret updated in the database"


def _new_api_keys(values: Mapping[str, str]) -> dict[str, str]:
    return {
        name: secrets.SECRETS[name].make(values)
        for name in ("SUPABASE_PUBLISHABLE_KEY", "SUPABASE_SECRET_KEY")
    }


def _new_dashboard_password(values: Mapping[str, str]) -> dict[str, str]:
    password = secrets.SECRETS["DASHBOARD_PASSWORD"].make(values)
    return {
        "DASHBOARD_PASSWORD": password,
        "DASHBOARD_PASSWORD_HASH": secrets.dashboard_password_hash(password),
    }


@dataclass(frozen=True)
class Rotation:
    summary: str
    new_values: Callable[[Mapping[str, str]], dict[str, str]]
    database_step: Optional[Callable[[SqlRunner, Mapping[str, str], Mapping[str, str]], str]] = None
    advice: str = ""


ROTATIONS: dict[str, Rotation] = {
    "db-password": Rotation(
        "POSTGRES_PASSWORD, in docker/.env and for every Supabase login role in the database",
        _new_db_password,
        _db_password_step,
        "Every service that connects to the database is recreated with the new password.",
    ),
    "jwt": Rotation(
        "JWT_SECRET; ANON_KEY and SERVICE_ROLE_KEY re-signed; its HS256 key in JWT_KEYS/JWT_JWKS "
        "(the EC signing key is kept); app.settings.jwt_secret in the database",
        _new_jwt_secret,
        _jwt_step,
        "Give clients the new ANON_KEY / SERVICE_ROLE_KEY (`--show ANON_KEY`). Tokens signed with the old "
        "JWT_SECRET, the old keys and HS256 user sessions, are rejected from now on: users sign in again.",
    ),
    "api-keys": Rotation(
        "SUPABASE_PUBLISHABLE_KEY and SUPABASE_SECRET_KEY (the sb_ keys clients send)",
        _new_api_keys,
        advice="Give clients the new keys (`--show SUPABASE_PUBLISHABLE_KEY`). The ES256 tokens Kong sends "
        "upstream stay as they are: only a new EC signing key would invalidate them.",
    ),
    "dashboard": Rotation(
        "DASHBOARD_PASSWORD and its bcrypt hash for Caddy",
        _new_dashboard_password,
        advice="Sign in to Studio with the new password (`--show DASHBOARD_PASSWORD`).",
    ),
}


@dataclass
class RotationResult:
    changed: list[str]  # key names
    previous: Path  # the copy of the old docker/.env
    database: str  # what the database step did, or ''


def _redact(text: str, values) -> str:
    for value in values:
        if value:
            text = text.replace(value, "<redacted>")
    return text


def rotate(env_path: Path, name: str, run_sql: Optional[SqlRunner] = None) -> RotationResult:
    """Rotate one group of secrets; see the module docstring for the order of the steps."""
    rotation = ROTATIONS[name]
    env = EnvFile.load(env_path)
    values = env.values()
    new = rotation.new_values(values)
    if rotation.database_step and run_sql is None:
        raise OpsError(f"--rotate {name} needs the running database")
    for key, value in new.items():
        env.set(key, value)
    pending = env.write(env_path.with_name(env_path.name + ".pending"))
    previous = keep_copy(env_path)
    done = ""
    try:
        if rotation.database_step:
            done = rotation.database_step(run_sql, values, new)
    except BaseException as error:
        pending.unlink(missing_ok=True)
        previous.unlink(missing_ok=True)
        if isinstance(error, OpsError):
            # psql may quote the failing statement: never let a secret through.
            old_and_new = [*new.values(), *(values.get(key, "") for key in new)]
            raise OpsError(f"{_redact(str(error), old_and_new)}\ndocker/.env was not changed") from None
        raise
    os.replace(pending, env_path)
    return RotationResult(sorted(new), previous, done)
