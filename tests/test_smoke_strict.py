"""SMOKE_STRICT=1 (CI) turns a skipped compose-tier test into a failure, and nothing else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

SAMPLE = """
import pytest

@pytest.mark.docker
def test_compose_tier():
    pytest.skip("the Docker engine is not running")

def test_other_tier():
    pytest.skip("not a compose-tier test")
"""


def run_sample(tmp_path: Path, strict: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {key: value for key, value in os.environ.items() if key != "SMOKE_STRICT"}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    if strict:
        env["SMOKE_STRICT"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "standins.smoke", "-p", "no:cacheprovider", "-rA",
         "-o", "markers=docker: compose tier", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("strict", [False, True])
def test_only_compose_tier_skips_fail_under_smoke_strict(tmp_path, strict):
    done = run_sample(tmp_path, strict)
    summary = done.stdout.strip().splitlines()[-1]
    if strict:
        assert done.returncode == 1 and "1 failed, 1 skipped" in summary, done.stdout[-2000:]
        assert (
            "SMOKE_STRICT=1 forbids skipping a compose-tier test: the Docker engine is not running"
            in done.stdout
        )
    else:
        assert done.returncode == 0 and "2 skipped" in summary, done.stdout[-2000:]
