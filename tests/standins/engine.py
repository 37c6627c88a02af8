"""The Docker engine as the compose tier sees it: is it usable, and what did test runs leave.

    python3 tests/standins/engine.py cleanup     remove every smoketest-* compose project

Test projects are named smoketest-*; Compose labels their containers, volumes and
networks with the project name, so leftovers of a crashed run are found by label.
Standard library only (.ci/run calls it before the venv exists).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable

PROJECT_PREFIX = "smoketest-"
PROJECT_LABEL = "com.docker.compose.project"


def docker_unavailable_reason(base_image: str) -> str:
    """Why the compose tier cannot run here, or '' when it can."""
    if shutil.which("docker") is None:
        return "docker is not installed (bash .ci/provision.sh installs the engine)"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the Docker engine is not running or not reachable (bash .ci/provision.sh starts it)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        return "the Docker Compose v2 plugin is missing (bash .ci/provision.sh installs it)"
    if subprocess.run(
        ["docker", "image", "inspect", base_image], capture_output=True, check=False
    ).returncode:
        return f"the base image {base_image} is missing (bash .ci/provision.sh builds it)"
    return ""


def docker_lines(*args: str) -> list[str]:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    return [line for line in done.stdout.splitlines() if line.strip()]


def remove_test_projects(only: Iterable[str] = ()) -> list[str]:
    """Remove the containers, volumes and networks of the smoketest-* compose projects.

    `only` limits it to those names and their siblings (NAME-drill, ...), so a test session
    never touches another session's stacks; .ci/run removes them all.
    """
    template = '{{index .Labels "' + PROJECT_LABEL + '"}}'
    projects = set()
    for kind in ("container ls -a", "volume ls", "network ls"):
        lines = docker_lines(*kind.split(), "--filter", f"label={PROJECT_LABEL}", "--format", template)
        projects |= {name for name in lines if name.startswith(PROJECT_PREFIX)}
    if only:
        projects = {p for p in projects if any(p == name or p.startswith(f"{name}-") for name in only)}
    for project in sorted(projects):
        label = f"label={PROJECT_LABEL}={project}"
        containers = docker_lines("container", "ls", "-aq", "--filter", label)
        if containers:
            subprocess.run(["docker", "rm", "-f", "-v", *containers], capture_output=True, check=False)
        for kind in ("volume", "network"):
            names = docker_lines(kind, "ls", "-q", "--filter", label)
            if names:
                subprocess.run(["docker", kind, "rm", *names], capture_output=True, check=False)
    return sorted(projects)


if __name__ == "__main__":
    if sys.argv[1:] != ["cleanup"]:
        sys.exit("usage: python3 tests/standins/engine.py cleanup")
    for name in remove_test_projects():
        print(f"removed test project {name}")
