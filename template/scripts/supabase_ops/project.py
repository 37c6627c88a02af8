"""One instance on disk: its directory, its docker/.env, and `docker compose` bound to it.

Every helper goes through Project, so they all use the same compose files, project name
and environment, and none of them ever passes a secret on a command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from .envfile import EnvFile

ENVIRONMENTS = ("local", "production")


class OpsError(Exception):
    """A refusal or failure with a message that says what to do; printed without a traceback."""


class Project:
    def __init__(self, root: Path, env_overrides: Optional[dict[str, str]] = None):
        self.root = Path(root).resolve()
        self.docker_dir = self.root / "docker"
        self.env_path = self.docker_dir / ".env"
        if not (self.docker_dir / "docker-compose.yml").is_file():
            raise OpsError(f"{self.root} is not a Supabase instance directory (no docker/docker-compose.yml)")
        if not self.env_path.is_file():
            raise OpsError(
                f"{self.env_path} is missing: run `copier update --trust` in {self.root} "
                "(or `python3 scripts/generate_secrets.py`) to generate it"
            )
        self.env_overrides = dict(env_overrides or {})

    @classmethod
    def from_scripts_dir(cls, scripts_dir: Path, **kwargs) -> Project:
        return cls(Path(scripts_dir).resolve().parent, **kwargs)

    # ------------------------------------------------------------------ configuration
    def env_file(self) -> EnvFile:
        return EnvFile.load(self.env_path)

    @property
    def env(self) -> dict[str, str]:
        return {**self.env_file().values(), **self.env_overrides}

    @property
    def name(self) -> str:
        return self.env["PROJECT_NAME"]

    @property
    def environment(self) -> str:
        environment = self.env.get("ENVIRONMENT", "local")
        if environment not in ENVIRONMENTS:
            raise OpsError(f"ENVIRONMENT={environment!r} in docker/.env must be 'local' or 'production'")
        return environment

    def compose_files(self, environment: Optional[str] = None) -> list[Path]:
        overlay = "local" if (environment or self.environment) == "local" else "prod"
        return [self.docker_dir / "docker-compose.yml", self.docker_dir / f"docker-compose.{overlay}.yml"]

    # ------------------------------------------------------------------ docker compose
    def compose_command(
        self, *args: str, environment: Optional[str] = None, extra_files: Sequence[Path] = ()
    ) -> list[str]:
        if not shutil.which("docker"):
            raise OpsError(
                "docker is not installed or not on PATH: install Docker Engine with the Compose plugin"
            )
        command = [
            "docker",
            "compose",
            "--project-directory",
            str(self.docker_dir),
            "--env-file",
            str(self.env_path),
        ]
        for file in [*self.compose_files(environment), *extra_files]:
            command += ["-f", str(file)]
        if self.env_overrides.get("PROJECT_NAME"):
            command += ["-p", self.env_overrides["PROJECT_NAME"]]
        return [*command, *args]

    def process_env(self) -> dict[str, str]:
        """The environment for compose: overrides win over docker/.env, as Compose applies them."""
        env = {key: value for key, value in os.environ.items() if key != "COMPOSE_FILE"}
        env.update(self.env_overrides)
        return env

    def compose(
        self,
        *args: str,
        check: bool = True,
        capture: bool = False,
        input: Optional[bytes] = None,
        environment: Optional[str] = None,
        extra_files: Sequence[Path] = (),
        timeout: Optional[float] = None,
    ) -> subprocess.CompletedProcess:
        command = self.compose_command(*args, environment=environment, extra_files=extra_files)
        done = subprocess.run(
            command,
            cwd=self.docker_dir,
            env=self.process_env(),
            input=input,
            timeout=timeout,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )
        if check and done.returncode != 0:
            detail = (done.stderr or b"").decode(errors="replace").strip() if capture else ""
            raise OpsError(
                f"`docker compose {' '.join(args)}` failed (exit {done.returncode})"
                + (f": {detail}" if detail else "")
            )
        return done

    def psql(
        self, sql: str, user: str = "supabase_admin", database: str = "postgres", check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run SQL in the db container; the SQL travels on stdin, never on a command line.

        Connects over the container's loopback, which the image trusts; the container's
        PGPASSWORD covers images that do not.
        """
        return self.compose(
            "exec",
            "-T",
            "db",
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-A",
            "-t",
            "-h",
            "localhost",
            "-U",
            user,
            "-d",
            database,
            "-f",
            "-",
            input=sql.encode(),
            capture=True,
            check=check,
        )
