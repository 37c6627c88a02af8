"""Turning the log stack (enable_logs) on and off on an existing instance with `copier update`.

PYTEST_DONT_REWRITE: a failing assert must not print the secrets it compares.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TEST_TAG, git, render_project
from copier import run_update
from stack import compose_config, env_values

LOG_FILES = ("docker/volumes/logs/vector.yml", "docker/volumes/db/logs.sql")
TOKENS = ("LOGFLARE_PUBLIC_ACCESS_TOKEN", "LOGFLARE_PRIVATE_ACCESS_TOKEN")


def update_answers(project: Path, **answers) -> None:
    run_update(
        str(project), data=answers, vcs_ref=TEST_TAG, defaults=True, overwrite=True, unsafe=True, quiet=True
    )
    git(project, "add", "-A")
    git(project, "commit", "-q", "--allow-empty", "-m", f"update with {answers}")


@pytest.mark.slow
def test_the_log_stack_comes_and_goes_with_its_answer(template_repo: Path, tmp_path: Path):
    project = render_project(template_repo, tmp_path / "acme-shop")
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "instance without the log stack")
    before = env_values(project)

    update_answers(project, enable_logs=True)

    after = env_values(project)
    assert all((project / name).is_file() for name in LOG_FILES)
    assert {"analytics", "vector"} <= set(compose_config(project, "local")["services"])
    # The hook generated both tokens, different, and kept every value that was there.
    tokens_made = all(after.get(name) for name in TOKENS) and after[TOKENS[0]] != after[TOKENS[1]]
    assert tokens_made, "the Logflare tokens were not generated, or are equal"
    changed = sorted(key for key in before if after.get(key) != before[key])
    assert changed == [], f"the update changed {changed}"
    assert after["DOCKER_SOCKET_LOCATION"] == "/var/run/docker.sock"

    update_answers(project, enable_logs=False)

    assert not [name for name in LOG_FILES if (project / name).exists()]
    assert not {"analytics", "vector"} & set(compose_config(project, "local")["services"])
    assert "enable_logs: false" in (project / ".copier-answers.yml").read_text()
