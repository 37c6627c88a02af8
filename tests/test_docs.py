"""The documentation matches what exists: questions, scripts and their flags, variables, links."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from stack import env_values

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_CALL = re.compile(r"python3 scripts/(\w+)\.py((?:[ \t]+--[a-z][\w-]*)*)")
PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]+)>")
NOT_VARIABLES = {"PROVIDER", "DOMAIN"}  # "<PROVIDER>_CLIENT_ID"; DOMAIN is a variable, checked apart


@pytest.fixture(scope="module", params=["local", "production"])
def project(request, render) -> Path:
    if request.param == "local":
        return render(project_name="docs-local", oauth_providers=["github"])
    return render(project_name="docs-prod", environment="production", domain="example.com")


def user_docs(project: Path) -> dict[Path, str]:
    paths = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    return {path: path.read_text() for path in paths}


def test_every_question_is_explained():
    questions = [
        name for name in yaml.safe_load((ROOT / "copier.yml").read_text()) if not name.startswith("_")
    ]
    text = (ROOT / "docs" / "QUESTIONS.md").read_text()
    missing = [name for name in questions if f"\n## {name}\n" not in text or f"| `{name}` |" not in text]
    assert not missing, f"docs/QUESTIONS.md does not explain: {missing}"


def test_documented_script_calls_exist(project: Path):
    """Every `python3 scripts/X.py --flag` in the generated docs names a script and flags it has."""
    help_texts: dict[str, str] = {}
    calls = 0
    for path, text in user_docs(project).items():
        for script, flags in SCRIPT_CALL.findall(text):
            calls += 1
            source = project / "scripts" / f"{script}.py"
            assert source.is_file(), f"{path.name} mentions scripts/{script}.py, which does not exist"
            if script not in help_texts:
                done = subprocess.run(
                    [sys.executable, str(source), "--help"], capture_output=True, text=True, check=False
                )
                assert done.returncode == 0, f"scripts/{script}.py --help failed: {done.stderr[-500:]}"
                help_texts[script] = done.stdout
            for flag in flags.split():
                assert flag in help_texts[script], f"{path.name}: scripts/{script}.py has no {flag}"
    assert calls >= 10


def test_documented_variables_exist(project: Path):
    defined = set(env_values(project))
    for path, text in user_docs(project).items():
        unknown = sorted(set(PLACEHOLDER.findall(text)) - defined - NOT_VARIABLES)
        assert not unknown, f"{path.name} refers to variables docker/.env does not have: {unknown}"


def test_documented_files_exist(project: Path):
    for path, text in user_docs(project).items():
        for target in sorted(set(re.findall(r"\bdocs/[A-Z_]+\.md\b", text))):
            assert (project / target).is_file(), f"{path.name} points at {target}, which is not generated"
