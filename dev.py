#!/usr/bin/env python3
"""Developer entry point of the template repository (standard library only).

    python3 dev.py render DEST [copier options]   render a project with default answers
    python3 dev.py test [pytest options]          run the whole test suite
    python3 dev.py lint                           ruff and yamllint on the repository
    python3 dev.py bench                          run the benchmarks, write benchmarks/results/

Each command first creates .venv and installs requirements.txt into it when needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
REQUIREMENTS = ROOT / "requirements.txt"


def ensure_venv() -> None:
    """(Re)install requirements when requirements.txt changed since the last install."""
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV.relative_to(ROOT)}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run([str(BIN / "python"), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)])
    stamp.write_text(digest)


def run(command: list[str], **kwargs) -> int:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(VENV))
    return subprocess.run(command, env=env, check=False, **kwargs).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__.strip())
        return 0
    command, args = argv[0], argv[1:]
    ensure_venv()
    if command == "render":
        if not args:
            print("usage: python3 dev.py render DEST [copier options]", file=sys.stderr)
            return 2
        # --vcs-ref HEAD renders this checkout as it is, uncommitted changes included.
        copier = [str(BIN / "copier"), "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
        return run([*copier, str(ROOT), *args])
    if command == "test":
        return run([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT)
    if command == "lint":
        return run([str(BIN / "ruff"), "check", "."], cwd=ROOT) or run(
            [str(BIN / "yamllint"), "-s", "copier.yml", "tests/docker", "template/.github"], cwd=ROOT
        )
    if command == "bench":
        return run([str(BIN / "python"), "benchmarks/run.py", *args], cwd=ROOT)
    print(f"unknown command {command!r}; see python3 dev.py --help", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
