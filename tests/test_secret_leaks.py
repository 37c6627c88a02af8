"""No secret from docker/.env appears anywhere else: not in another file of the generated
project, not in git, not in what `copier copy`, `copier update` or generate_secrets.py print.

PYTEST_DONT_REWRITE: a failing assert must not print the secrets it compares.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BASE_ANSWERS, ROOT, TEST_TAG, git

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops.envfile import EnvFile
from supabase_ops.secrets import SECRETS

COPIER = Path(sys.executable).parent / "copier"


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{Path(command[1]).name if len(command) > 1 else command[0]} failed"
    return done.stdout + done.stderr


def secret_values(docker_dir: Path) -> dict[str, str]:
    """Every secret in docker/.env and its kept copies, and the secret parts of the key set."""
    found = {}
    for path in [docker_dir / ".env", *sorted(docker_dir.glob(".env.previous-*"))]:
        values = EnvFile.load(path).values()
        for key in SECRETS:
            if values.get(key):
                found[f"{path.name}:{key}"] = values[key]
        for jwk in json.loads(values["JWT_KEYS"]):
            found[f"{path.name}:JWT_KEYS.{jwk['kty']}"] = jwk.get("d") or jwk["k"]
    return found


def leaks_in(text: str, secrets: dict[str, str]) -> list[str]:
    """The names (never the values) of the secrets found in text."""
    return sorted({name.split(":")[1] for name, value in secrets.items() if value in text})


@pytest.mark.slow
def test_no_secret_leaves_docker_env(template_repo, tmp_path):
    project = tmp_path / "leak-check"
    answers = {**BASE_ANSWERS, "project_name": "leak-check"}
    data = [arg for key, value in answers.items() for arg in ("-d", f"{key}={value}")]
    outputs = {
        "copier copy": run(
            [
                str(COPIER),
                "copy",
                "--trust",
                "--defaults",
                "--vcs-ref",
                TEST_TAG,
                *data,
                str(template_repo),
                str(project),
            ],
            tmp_path,
        )
    }
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "instance")
    outputs["copier update"] = run(
        [str(COPIER), "update", "--trust", "--defaults", "--vcs-ref", TEST_TAG], project
    )
    script = [sys.executable, str(project / "scripts" / "generate_secrets.py")]
    outputs["generate_secrets"] = run(script, project)
    outputs["generate_secrets --help"] = run([*script, "--help"], project)
    outputs["generate_secrets --rotate dashboard"] = run(
        [*script, "--rotate", "dashboard", "--no-restart"], project
    )
    outputs["generate_secrets --rotate api-keys"] = run(
        [*script, "--rotate", "api-keys", "--no-restart"], project
    )
    check = subprocess.run(
        [*script, "--production"], cwd=project, capture_output=True, text=True, check=False
    )
    outputs["generate_secrets --production"] = check.stdout + check.stderr

    secrets = secret_values(project / "docker")
    assert len(secrets) >= len(SECRETS)
    assert (
        "copier._vcs.clone" in outputs["copier copy"]
        and "secrets generated: POSTGRES_PASSWORD" in outputs["copier copy"]
    )
    assert "docker/.env is up to date" in outputs["copier update"]  # the hook ran in the project
    for command, output in outputs.items():
        assert leaks_in(output, secrets) == [], f"`{command}` printed a secret"
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        if path.is_file() and not relative.startswith((".git/", "docker/.env")):
            found = leaks_in(path.read_text(errors="replace"), secrets)
            assert found == [], f"{relative} holds {found}"
    assert [name for name in git(project, "ls-files").split() if name.startswith("docker/.env")] == [
        "docker/.env.example"
    ]
    # git's history holds no secret either (its objects are compressed: ask git for the text).
    history = git(project, "log", "--all", "-p", "--no-color")
    assert "docker/.env.example" in history and leaks_in(history, secrets) == []
