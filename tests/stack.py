"""Helpers that read a rendered project the way its tools do: Compose, the .env file, Caddy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops.envfile import EnvFile  # noqa: E402
from supabase_ops.ports import PORT_TABLE, PRODUCTION_PORTS  # noqa: E402

__all__ = ["PORT_TABLE", "PRODUCTION_PORTS"]

# ${NAME}, ${NAME:-default}, ${NAME:?message}; `$${...}` is Compose's escape for a literal `$`.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
CADDY_VARIABLE = re.compile(r"\{\$([A-Za-z_][A-Za-z0-9_]*)")
ONE_SHOT_SERVICES = {"minio-init"}


def env_values(project: Path) -> dict[str, str]:
    return EnvFile.load(project / "docker" / ".env").values()


def compose_files(project: Path, environment: str) -> list[Path]:
    overlay = "local" if environment == "local" else "prod"
    return [project / "docker" / "docker-compose.yml", project / "docker" / f"docker-compose.{overlay}.yml"]


def docker_compose() -> list[str]:
    """The Compose v2 command, or skip naming what is missing."""
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed (CI provisions it with .ci/provision.sh)")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the Docker Compose v2 plugin is not installed (.ci/provision.sh installs it)")
    return ["docker", "compose"]


def clean_environment(project: Path) -> dict[str, str]:
    """This process's environment without any variable docker/.env sets: those would win over it."""
    defined = set(env_values(project))
    return {key: value for key, value in os.environ.items() if key not in defined}


def compose(project: Path, environment: str, *args: str) -> subprocess.CompletedProcess:
    """`docker compose -f base -f overlay ARGS` in docker/, with nothing but docker/.env."""
    command = docker_compose()
    for path in compose_files(project, environment):
        command += ["-f", str(path)]
    return subprocess.run(
        [*command, *args],
        cwd=project / "docker",
        env=clean_environment(project),
        capture_output=True,
        text=True,
        check=False,
    )


def compose_config(project: Path, environment: str) -> dict:
    done = compose(project, environment, "config", "--format", "json")
    # Compose's message names the file and key; it never holds a whole .env.
    assert done.returncode == 0, f"docker compose config failed:\n{done.stderr}"
    return json.loads(done.stdout)


def compose_variables(project: Path, environment: str) -> set[str]:
    """Every variable the compose files of this environment interpolate."""
    names: set[str] = set()
    for path in compose_files(project, environment):
        names |= set(COMPOSE_VARIABLE.findall(path.read_text()))
    return names


def host_ports(config: dict) -> list[tuple[str, str, int, str]]:
    """(service, host address, host port, protocol) of every published port."""
    published = []
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            published.append(
                (name, port.get("host_ip", ""), int(port["published"]), port.get("protocol", "tcp"))
            )
    return published


def venv_tool(name: str) -> str:
    """A tool requirements.txt installs (ruff, caddy, copier), from .venv first, else skip."""
    found = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (python3 dev.py test installs it into .venv)")
    return found


def caddy() -> str:
    return venv_tool("caddy")


def caddy_environment(config: dict, home: Path) -> dict[str, str]:
    """What the caddy container sees (its environment in the resolved compose config).

    Caddy keeps certificates and state under `home`, never in the user's own directories.
    """
    service_env = config["services"]["caddy"]["environment"]
    values = {key: "" if value is None else str(value) for key, value in service_env.items()}
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        **values,
    }


def caddy_run(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([caddy(), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False)


def free_port_offset(offsets) -> int:
    """The first of these offsets whose every host port is free here, or skip."""
    import socket

    def free(port: int) -> bool:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    for offset in offsets:
        if all(free(port.host_port(offset)) for port in PORT_TABLE):
            return offset
    pytest.skip("no free port offset found on this host")
