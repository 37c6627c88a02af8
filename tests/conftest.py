"""Shared fixtures: a versioned clone of this template, and projects rendered from it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from copier import run_copy

# The compose tier: its fixtures, its cleanup and the SMOKE_STRICT hook (tests/standins/smoke.py).
pytest_plugins = ["standins.smoke"]

ROOT = Path(__file__).resolve().parents[1]
TEST_TAG = "99.0.0"  # above every real release, so `copier update` never looks past it

# The answers every test starts from; tests override a few keys at a time.
BASE_ANSWERS = {"project_name": "acme-shop", "domain": "localhost", "environment": "local", "port_offset": 0}


def git(cwd: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="Template Tests",
        GIT_AUTHOR_EMAIL="tests@example.com",
        GIT_COMMITTER_NAME="Template Tests",
        GIT_COMMITTER_EMAIL="tests@example.com",
    )
    done = subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture(scope="session", autouse=True)
def isolated_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep tests away from the host's real instance registry."""
    path = tmp_path_factory.mktemp("registry") / "registry.json"
    previous = os.environ.get("SUPABASE_INSTANCES_REGISTRY")
    os.environ["SUPABASE_INSTANCES_REGISTRY"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("SUPABASE_INSTANCES_REGISTRY", None)
    else:
        os.environ["SUPABASE_INSTANCES_REGISTRY"] = previous


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of this checkout with its uncommitted work committed and tagged TEST_TAG.

    Copier then renders exactly what is on disk, and update tests can add later versions.
    """
    clone = tmp_path_factory.mktemp("template") / "repo"
    shutil.copytree(
        ROOT,
        clone,
        ignore=shutil.ignore_patterns(".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "my-project"),
    )
    if not (clone / ".git").exists():
        git(clone, "init", "-q")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "--allow-empty", "--no-verify", "-m", "test snapshot")
    git(clone, "tag", "-f", TEST_TAG)
    return clone


def render_project(template: Path, dest: Path, vcs_ref: str = TEST_TAG, **answers) -> Path:
    """Render the template into dest with real Copier (tasks included), non-interactively."""
    run_copy(
        str(template),
        str(dest),
        data={**BASE_ANSWERS, **answers},
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref=vcs_ref,
    )
    return dest


@pytest.fixture(scope="session")
def render(template_repo: Path, tmp_path_factory: pytest.TempPathFactory):
    """Factory: render(**answers) -> project path, rendered from the tagged template clone."""

    def _render(**answers) -> Path:
        dest = tmp_path_factory.mktemp("project") / answers.get("project_name", BASE_ANSWERS["project_name"])
        return render_project(template_repo, dest, **answers)

    return _render


@pytest.fixture(scope="session")
def default_project(render) -> Path:
    """One project rendered with the base answers, shared by read-only tests."""
    return render()


def tool(name: str) -> str:
    """The path of a command-line tool, or skip the test naming what is missing."""
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (python3 dev.py test installs the Python ones)")
    return found


@pytest.fixture
def pg_cluster():
    """A fresh, empty PostgreSQL cluster (superuser supabase_admin), removed afterwards."""
    from pgcluster import throwaway_cluster

    with throwaway_cluster("test-superuser-password") as cluster:
        yield cluster


@pytest.fixture
def supabase_cluster(pg_cluster):
    """A cluster holding the roles and schemas the supabase/postgres image creates first."""
    pg_cluster.bootstrap_supabase()
    return pg_cluster
