"""Smoke tests of this instance's stack, on the official images (pytest + pytest-docker).

They never touch the instance itself: pytest-docker starts a throwaway sibling,
<PROJECT_NAME>-smoke, from the same compose files and docker/.env, on free loopback
ports, and removes it with its volumes afterwards. So they run beside a live instance
(even a production one: the sibling always uses the local overlay, nothing on 80/443).

    python3 -m pip install -r tests/requirements.txt
    docker compose --project-directory docker pull     # the images, once
    python3 -m pytest tests

Where the official images are not on this machine, every test skips and says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from smokestack import COMPOSE_FILES, UP_TIMEOUT, Instance, missing_images


@pytest.fixture(scope="session")
def instance() -> Instance:
    if shutil.which("docker") is None:
        pytest.skip("docker is not installed")
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode:
        pytest.skip("the Docker Compose v2 plugin is not installed")
    found = Instance()
    missing = missing_images(found)
    if missing:
        pytest.skip(
            f"the official images are not on this machine ({', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}): run `docker compose --project-directory docker pull`"
        )
    return found


# pytest-docker's fixtures, overridden: the sibling's files, name, start and removal.
@pytest.fixture(scope="session")
def docker_compose_file(instance: Instance) -> list[str]:
    os.environ.update(instance.overrides)  # pytest-docker runs compose with this environment
    return [str(path) for path in COMPOSE_FILES]


@pytest.fixture(scope="session")
def docker_compose_project_name(instance: Instance) -> str:
    return instance.name


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return [f"up -d --wait --wait-timeout {UP_TIMEOUT}"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v --remove-orphans --timeout 10"]


@pytest.fixture(scope="session")
def stack(request, instance: Instance) -> Iterator[Instance]:
    """The sibling, up and healthy; removed with its volumes afterwards, even after a failed start."""
    request.addfinalizer(lambda: instance.compose("down", "-v", "--remove-orphans", "--timeout", "10"))
    try:
        request.getfixturevalue("docker_services")
    except Exception:
        states = instance.compose("ps", "-a", "--format", "json").stdout
        raise AssertionError(f"{instance.name} did not come up; containers: {states}") from None
    yield instance
