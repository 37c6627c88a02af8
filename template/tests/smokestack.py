"""The throwaway sibling instance the smoke tests run against (see conftest.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER_DIR = ROOT / "docker"
sys.path.insert(0, str(ROOT / "scripts"))

from supabase_ops.envfile import EnvFile  # noqa: E402
from supabase_ops.ports import PORT_TABLE  # noqa: E402
from supabase_ops.secrets import SECRETS  # noqa: E402

COMPOSE_FILES = [DOCKER_DIR / "docker-compose.yml", DOCKER_DIR / "docker-compose.local.yml"]
UP_TIMEOUT = 600  # the first start of the official images (migrations) is slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Hidden(str):
    """A secret that stays out of reprs: pytest prints the arguments of failing frames."""

    def __repr__(self) -> str:
        return "'<hidden>'"


class Instance:
    """The throwaway sibling: its settings (docker/.env plus the test overrides) and URLs."""

    def __init__(self) -> None:
        env_path = DOCKER_DIR / ".env"
        if not env_path.is_file():
            pytest.skip("docker/.env is missing: run `python3 scripts/generate_secrets.py` first")
        values = EnvFile.load(env_path).values()
        self.name = f"{values['PROJECT_NAME']}-smoke"
        # Environment variables win over docker/.env in Compose: a new name, free ports, and
        # sign-ups that need no e-mail, whatever this instance's own settings are.
        self.overrides = {
            "PROJECT_NAME": self.name,
            "DISABLE_SIGNUP": "false",
            "ENABLE_EMAIL_SIGNUP": "true",
            "ENABLE_EMAIL_AUTOCONFIRM": "true",
            **{port.variable: str(free_port()) for port in PORT_TABLE},
        }
        values.update(self.overrides)
        self.env = {key: Hidden(value) if key in SECRETS else value for key, value in values.items()}
        self.api = f"http://127.0.0.1:{self.env['KONG_HTTP_PORT']}"

    def compose(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        command = ["docker", "compose", "--project-directory", str(DOCKER_DIR), "-p", self.name]
        for path in COMPOSE_FILES:
            command += ["-f", str(path)]
        return subprocess.run(
            [*command, *args],
            input=stdin,
            env={**os.environ, **self.overrides},
            capture_output=True,
            text=True,
            check=False,
        )

    def services(self) -> list[str]:
        return self.compose("config", "--services").stdout.split()

    def psql(self, sql: str) -> str:
        """SQL as supabase_admin inside the db container (on stdin, never on a command line)."""
        done = self.compose(
            "exec", "-T", "db", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t",
            "-h", "localhost", "-U", "supabase_admin", "-d", "postgres", "-f", "-",
            stdin=sql,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout


def missing_images(instance: Instance) -> list[str]:
    images = instance.compose("config", "--images").stdout.split()
    return [
        image
        for image in images
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False).returncode
    ]


def containers(instance: Instance) -> list[dict]:
    text = instance.compose("ps", "-a", "--format", "json").stdout.strip()
    if not text:
        return []
    return json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines()]
