"""One instance on disk: its directory, its docker/.env, and `docker compose` bound to it.

Every helper goes through Project, so they all use the same compose files, project name
and environment, and none of them ever passes a secret on a command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # imported where used: every script's --help loads this module
    import subprocess
    from collections.abc import Sequence

    from .envfile import EnvFile

ENVIRONMENTS = ("local", "production")


class OpsError(Exception):
    """A refusal or failure with a message that says what to do; printed without a traceback."""


class Project:
    def __init__(
        self, root: Path, env_overrides: Optional[dict[str, str]] = None, extra_files: Sequence[Path] = ()
    ):
        """env_overrides win over docker/.env (PROJECT_NAME gives a sibling instance, as restore
        drills do); extra_files are compose files added to every compose call."""
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
        self.extra_files = list(extra_files)

    @classmethod
    def from_scripts_dir(cls, scripts_dir: Path, **kwargs) -> Project:
        return cls(Path(scripts_dir).resolve().parent, **kwargs)

    # ------------------------------------------------------------------ configuration
    def env_file(self) -> EnvFile:
        from .envfile import EnvFile

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
        """The stack, its environment's overlay, then the user's docker-compose.override.yml
        (if any) and the files named in SUPABASE_COMPOSE_EXTRA_FILES (':'-separated)."""
        overlay = "local" if (environment or self.environment) == "local" else "prod"
        files = [self.docker_dir / "docker-compose.yml", self.docker_dir / f"docker-compose.{overlay}.yml"]
        override = self.docker_dir / "docker-compose.override.yml"
        if override.is_file():
            files.append(override)
        extra = os.environ.get("SUPABASE_COMPOSE_EXTRA_FILES", "")
        return files + [Path(path).expanduser().resolve() for path in extra.split(os.pathsep) if path]

    def config_files(self) -> list[Path]:
        """The files that define the instance (besides its volumes), as they exist on disk."""
        candidates = [
            self.root / ".copier-answers.yml",
            self.env_path,
            self.docker_dir / ".env.example",
            *sorted(self.docker_dir.glob("docker-compose*.yml")),
            *sorted((self.root / "caddy").glob("Caddyfile*")),
        ]
        return [path for path in candidates if path.is_file()]

    def backup_root(self) -> Path:
        """Where this instance's backup sets go: <BACKUP_ROOT>/<PROJECT_NAME>/."""
        root = Path(self.env.get("BACKUP_ROOT") or "backups").expanduser()
        return (root if root.is_absolute() else self.root / root) / self.name

    def answers(self) -> dict[str, str]:
        """The top-level scalar answers of .copier-answers.yml (enough for _commit and _src_path)."""
        import re

        path = self.root / ".copier-answers.yml"
        found = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                match = re.match(r"^([A-Za-z_][\w-]*):\s*(.*?)\s*$", line)
                if match and match.group(2):
                    found[match.group(1)] = match.group(2).strip("'\"")
        return found

    def enabled_parts(self) -> set[str]:
        """The optional parts this instance was rendered with (see ports.PublishedPort.needs)."""
        answers = self.answers()
        parts = set()
        if answers.get("storage_backend", "minio") == "minio":
            parts.add("minio")
        if answers.get("enable_redis", "true").lower() == "true":
            parts.add("redis")
        if answers.get("enable_functions", "true").lower() == "true":
            parts.add("functions")
        return parts

    def port_offset(self) -> int:
        raw = self.env.get("PORT_OFFSET", "0")
        try:
            return int(raw)
        except ValueError:
            raise OpsError(f"PORT_OFFSET={raw!r} in docker/.env must be a whole number") from None

    def volume_name(self, key: str) -> str:
        """The Docker name of a volume of the compose file (Compose prefixes the project name)."""
        return f"{self.name}_{key}"

    def container_name(self, service: str) -> str:
        return f"{self.name}_{service}"

    # ------------------------------------------------------------------ docker compose
    def compose_command(
        self, *args: str, environment: Optional[str] = None, extra_files: Sequence[Path] = ()
    ) -> list[str]:
        import shutil

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
        for file in [*self.compose_files(environment), *self.extra_files, *extra_files]:
            command += ["-f", str(file)]
        command += ["-p", self.name]
        return [*command, *args]

    def process_env(self) -> dict[str, str]:
        """The environment for compose: docker/.env wins over the caller's shell (a stray
        PROJECT_NAME or COMPOSE_* there must not redirect compose), overrides win over both."""
        own = set(self.env_file().keys()) | {"COMPOSE_FILE", "COMPOSE_PROJECT_NAME"}
        env = {key: value for key, value in os.environ.items() if key not in own}
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
        import subprocess

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

    def services(self) -> list[str]:
        """The services of the stack, as the rendered compose files define them."""
        done = self.compose("config", "--services", capture=True)
        return done.stdout.decode().split()

    def service_images(self) -> dict[str, str]:
        """The image reference of every service, as the compose files resolve it."""
        import json

        config = json.loads(self.compose("config", "--format", "json", capture=True).stdout.decode())
        return {name: service.get("image", "") for name, service in config.get("services", {}).items()}

    def containers(self) -> list:
        """This instance's containers (running or not): same project name and directory."""
        from . import dockerhost

        return [
            container
            for container in dockerhost.containers(project=self.name)
            if Path(container.working_dir or self.docker_dir).resolve() == self.docker_dir
        ]

    def running(self) -> dict:
        """Running containers of this instance by service."""
        return {c.service: c for c in self.containers() if c.state == "running"}

    def psql(self, sql: str, database: str = "postgres", check: bool = True) -> subprocess.CompletedProcess:
        """Run SQL in the db container as the image's superuser; the SQL travels on stdin."""
        from . import pgclient  # imported here: pgclient builds on this module

        return pgclient.run_sql(pgclient.ContainerPg(self), sql, database, check=check)
