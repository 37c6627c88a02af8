"""A throwaway PostgreSQL cluster for tests: real server binaries, a free port, a temp dir."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BOOTSTRAP_SQL = Path(__file__).parent / "standins" / "postgres" / "supabase-bootstrap.sql"


def postgres_bin_dir() -> Path | None:
    candidates = [os.environ.get("PG_BIN", "")]
    candidates += sorted((str(p) for p in Path("/usr/lib/postgresql").glob("*/bin")), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """initdb + pg_ctl on 127.0.0.1:<free port>, superuser `supabase_admin` (as in the image)."""

    superuser = "supabase_admin"

    def __init__(self, base: Path, password: str):
        self.bin = postgres_bin_dir()
        if self.bin is None:
            pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql-15)")
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.password = password
        self.run_as = self._unprivileged_user()

    @staticmethod
    def _unprivileged_user() -> list[str]:
        """initdb refuses to run as root: drop to the `postgres` OS user when we are root."""
        if os.geteuid() != 0:
            return []
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start a PostgreSQL test cluster")
        return ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.run_as, *args], check=True, capture_output=True, text=True, **kwargs)

    def start(self) -> PostgresCluster:
        self.base.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.base, "postgres", "postgres")
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self.run_as:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.superuser,
            "--pwfile",
            str(pwfile),
            "-A",
            "scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale",
            "C.UTF-8",
        )
        pwfile.unlink()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c unix_socket_directories={self.base}"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return self

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )

    def env(self, user: str | None = None, password: str | None = None) -> dict[str, str]:
        return dict(
            os.environ,
            PGHOST="127.0.0.1",
            PGPORT=str(self.port),
            PGUSER=user or self.superuser,
            PGPASSWORD=password if password is not None else self.password,
            PGDATABASE="postgres",
        )

    def dsn(self, user: str | None = None, password: str | None = None, database: str = "postgres") -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host="127.0.0.1",
            port=self.port,
            user=user or self.superuser,
            password=password if password is not None else self.password,
            dbname=database,
        )

    def psql(
        self,
        sql: str,
        database: str = "postgres",
        env_extra: dict[str, str] | None = None,
        user: str | None = None,
    ) -> str:
        """Run SQL (or psql meta-commands) through the real psql client; returns stdout."""
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-A",
                "-t",
                "-d",
                database,
                "-f",
                "-",
            ],
            input=sql,
            env={**self.env(user), **(env_extra or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def bootstrap_supabase(self) -> None:
        """Create what the supabase/postgres image creates before any init script runs."""
        self.psql(BOOTSTRAP_SQL.read_text())

    def wait(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                subprocess.run(
                    [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ):
                return
            time.sleep(0.2)
        raise TimeoutError("PostgreSQL test cluster did not become ready")


@contextlib.contextmanager
def throwaway_cluster(password: str) -> Iterator[PostgresCluster]:
    """A started cluster in its own directory, stopped and removed afterwards."""
    # Not under pytest's 0700 temp root: the server may run as the `postgres` OS user.
    base = Path(tempfile.mkdtemp(prefix="supabase-pg-"))
    base.chmod(0o755)
    cluster = PostgresCluster(base / "cluster", password=password)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
