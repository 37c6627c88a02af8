"""The PostgreSQL client tools (psql, pg_dump, pg_restore, ...) run against an instance's database.

A PgClient only knows how to build a command line for a tool: inside the db container
(`docker compose exec -T db ...`, the production path) or with host binaries and a
libpq environment (tests and benchmarks). Everything else here (streaming dumps to
files, restoring, querying) is the same code for both. SQL and passwords never go on a
command line: SQL travels on stdin, passwords in the environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, Callable, Optional

from .project import OpsError, Project

CHUNK = 1 << 20
SUPERUSER = "supabase_admin"
Progress = Callable[[int], None]  # called with the bytes done so far


class PgClient:
    cwd: Optional[Path] = None

    def command(self, tool: str, *args: str) -> list[str]:
        raise NotImplementedError

    def env(self) -> Optional[dict[str, str]]:
        return None


class ContainerPg(PgClient):
    """The tools of the db container, as the image's superuser over its trusted loopback."""

    def __init__(self, project: Project):
        self.project = project
        self.cwd = project.docker_dir

    def command(self, tool: str, *args: str) -> list[str]:
        return self.project.compose_command(
            "exec", "-T", "db", tool, "-h", "localhost", "-U", SUPERUSER, *args
        )

    def env(self) -> Optional[dict[str, str]]:
        return self.project.process_env()


class HostPg(PgClient):
    """Host binaries against a server reachable over TCP; the password goes in PGPASSWORD."""

    def __init__(self, bin_dir: Path, host: str, port: int, password: str, user: str = SUPERUSER):
        self.bin_dir = Path(bin_dir)
        self.settings = {"PGHOST": host, "PGPORT": str(port), "PGUSER": user, "PGPASSWORD": password}

    def command(self, tool: str, *args: str) -> list[str]:
        return [str(self.bin_dir / tool), *args]

    def env(self) -> Optional[dict[str, str]]:
        return {**os.environ, **self.settings}


# ---------------------------------------------------------------------- small queries
def run_sql(
    pg: PgClient, sql: str, database: str = "postgres", check: bool = True
) -> subprocess.CompletedProcess:
    """Run SQL through psql (stopping at the first error); stdout is the unaligned result."""
    command = pg.command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-d", database, "-f", "-")
    done = subprocess.run(
        command, input=sql.encode(), capture_output=True, env=pg.env(), cwd=pg.cwd, check=False
    )
    if check and done.returncode != 0:
        raise OpsError(f"psql on database {database!r} failed: {_first_error(done.stderr)}")
    return done


def query_json(pg: PgClient, sql: str, database: str = "postgres") -> list:
    """Rows of a SELECT as a list of dicts."""
    wrapped = f"SELECT coalesce(json_agg(row_to_json(q)), '[]') FROM ({sql}) q"  # noqa: S608 - our own queries
    done = run_sql(pg, wrapped, database)
    return json.loads(done.stdout.decode().strip() or "[]")


def databases(pg: PgClient) -> list[str]:
    """The databases worth backing up: every one that accepts connections but the templates."""
    rows = query_json(
        pg,
        "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
        "ORDER BY datname <> 'postgres', 1",
    )
    return [row["datname"] for row in rows]


def table_row_counts(pg: PgClient, database: str = "postgres") -> list[dict]:
    """Exact row counts of every table outside the system schemas."""
    return query_json(
        pg,
        "SELECT table_schema AS schema, table_name AS table, (xpath('/row/c/text()', query_to_xml("
        "format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]"
        "::text::bigint AS rows FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
        "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2",
        database,
    )


def _first_error(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "FATAL" in line or "error" in line]
    return (errors or lines or ["no output"])[0].strip()[:300]


# ---------------------------------------------------------------------- streaming
def stream(source: BinaryIO, dest: BinaryIO, progress: Optional[Progress] = None) -> tuple[int, str]:
    """Copy until EOF, hashing on the way; returns (bytes, sha256 hex)."""
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = source.read(CHUNK)
        if not chunk:
            break
        dest.write(chunk)
        digest.update(chunk)
        total += len(chunk)
        if progress:
            progress(total)
    return total, digest.hexdigest()


def capture_to(
    command: list[str], dest: BinaryIO, what: str, env=None, cwd=None, progress: Optional[Progress] = None
) -> tuple[int, str]:
    """Run a command whose stdout is the payload; stream it into dest. Fails loudly on a bad exit."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env, cwd=cwd)
        try:
            result = stream(process.stdout, dest, progress)
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            process.stdout.close()
        code = process.wait()
        if code != 0:
            errors.seek(0)
            raise OpsError(f"{what} failed (exit {code}): {_first_error(errors.read())}")
    return result


def feed_from(
    command: list[str], path: Path, what: str, env=None, cwd=None, progress: Optional[Progress] = None
) -> subprocess.CompletedProcess:
    """Run a command with a file on its stdin; returns it with stdout and stderr as its `stdout`."""
    with open(path, "rb") as source, tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=output, stderr=output, env=env, cwd=cwd
        )
        try:
            stream(source, process.stdin, progress)
        except BrokenPipeError:
            pass  # the reader stopped early (pg_restore --list reads only the table of contents)
        finally:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        code = process.wait()
        output.seek(0)
        return subprocess.CompletedProcess(command, code, output.read())


# ---------------------------------------------------------------------- dump and restore
def dump_database(
    pg: PgClient, database: str, dest: BinaryIO, progress: Optional[Progress] = None
) -> tuple[int, str]:
    """pg_dump in custom format (compressed, restorable selectively), streamed into dest."""
    command = pg.command("pg_dump", "--format=custom", "--dbname", database)
    return capture_to(command, dest, f"pg_dump of database {database!r}", pg.env(), pg.cwd, progress)


def dump_roles(pg: PgClient, dest: BinaryIO) -> tuple[int, str]:
    """Every role with its attributes, password hash and memberships (pg_dumpall --roles-only)."""
    return capture_to(
        pg.command("pg_dumpall", "--roles-only"), dest, "pg_dumpall --roles-only", pg.env(), pg.cwd
    )


def verify_dump(pg: PgClient, path: Path) -> int:
    """Ask pg_restore to read the dump's table of contents; returns its entry count."""
    command = pg.command("pg_restore", "--list")
    done = feed_from(command, path, "pg_restore --list", pg.env(), pg.cwd)
    if done.returncode != 0:
        raise OpsError(f"{path.name} is not a readable pg_dump archive: {_first_error(done.stdout)}")
    return sum(1 for line in done.stdout.decode(errors="replace").splitlines() if re.match(r"^\d+;", line))


def restore_database(
    pg: PgClient, database: str, path: Path, progress: Optional[Progress] = None
) -> list[str]:
    """Replace a database with a dump: drop it (closing its connections), recreate it from the
    archive with its owner, settings and grants (pg_restore --create). Returns pg_restore's errors.
    """
    # Replication slots (Realtime keeps one) pin a database: drop them first; the services
    # that own them are stopped and create them again when they start.
    run_sql(
        pg,
        "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "  # noqa: S608 - name is quoted
        f"WHERE database = {quote_literal(database)} AND active_pid IS NOT NULL;\n"
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        f"WHERE database = {quote_literal(database)};\n"
        f"DROP DATABASE IF EXISTS {quote_ident(database)} WITH (FORCE);\n",
        database="template1",
    )
    command = pg.command("pg_restore", "--create", "--dbname", "template1")
    done = feed_from(command, path, f"pg_restore of {database!r}", pg.env(), pg.cwd, progress)
    errors = [line for line in done.stdout.decode(errors="replace").splitlines() if "error:" in line]
    if done.returncode != 0 and not errors:
        errors = [_first_error(done.stdout)]
    return errors


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------- roles
_ROLE_STATEMENT = re.compile(r'^(?:CREATE|ALTER|COMMENT ON) ROLE ("(?:[^"]|"")+"|[^\s;]+)')


def _unquote(name: str) -> str:
    return name[1:-1].replace('""', '"') if name.startswith('"') else name


def missing_roles_sql(roles_dump: str, existing: Iterable[str]) -> tuple[str, list[str]]:
    """The part of a roles dump that creates roles the target lacks, plus every membership.

    Roles the target already has are left as they are: their passwords belong to the
    target's own docker/.env. Returns (sql, names of the roles it creates).
    """
    existing = set(existing)
    kept, created = [], []
    for line in roles_dump.splitlines():
        match = _ROLE_STATEMENT.match(line)
        if match:
            name = _unquote(match.group(1))
            if name in existing:
                continue
            if line.startswith("CREATE ROLE"):
                created.append(name)
            kept.append(line)
        elif line.startswith(("GRANT ", "SET ")):
            kept.append(line)
    return "\n".join(kept) + "\n", created


def restore_roles(pg: PgClient, path: Path) -> tuple[list[str], list[str]]:
    """Create the roles of a roles dump the server lacks; returns (created, errors).

    Memberships that already exist or name roles this server does not have are reported,
    not fatal: the statements run one by one without stopping.
    """
    existing = [row["rolname"] for row in query_json(pg, "SELECT rolname FROM pg_roles")]
    sql, created = missing_roles_sql(path.read_text(encoding="utf-8"), existing)
    command = pg.command("psql", "-X", "-q", "-d", "postgres", "-f", "-")
    done = subprocess.run(
        command, input=sql.encode(), capture_output=True, env=pg.env(), cwd=pg.cwd, check=False
    )
    errors = [line for line in done.stderr.decode(errors="replace").splitlines() if "ERROR" in line]
    return created, errors
