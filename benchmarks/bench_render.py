"""Render cost: `copier copy` of the full template against a trivial one-file template.

Both are rendered in the same run, from local git repositories, the same number of times,
alternating, so the machine's speed cancels out. Goal: the full render, secrets hook
included, costs at most GOAL times the trivial one. Two more series explain the difference:
the full render without tasks (Copier's per-file cost) and the secrets hook alone.

    python3 benchmarks/bench_render.py [--repetitions N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIER = Path(sys.executable).with_name("copier")
GOAL = 2.0
ANSWERS = ["-d", "project_name=bench-shop", "-d", "domain=localhost", "-d", "port_offset=0"]


def git(cwd: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@example.com",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@example.com")  # fmt: skip
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def tagged_repo(path: Path) -> Path:
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "--no-verify", "-m", "bench")
    git(path, "tag", "1.0.0")
    return path


def full_template(work: Path) -> Path:
    """This checkout as it is on disk, committed into a throwaway repository."""
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "benchmarks"
    )
    return tagged_repo(Path(shutil.copytree(ROOT, work / "full", ignore=ignore)))


def trivial_template(work: Path) -> Path:
    """One question, one rendered file: what any `copier copy` costs at the least."""
    path = work / "trivial"
    (path / "template").mkdir(parents=True)
    (path / "copier.yml").write_text("_subdirectory: template\nproject_name:\n  type: str\n  default: demo\n")
    (path / "template" / "README.md.jinja").write_text("# {{ project_name }}\n")
    return tagged_repo(path)


def copy_seconds(template: Path, dest: Path, extra: list[str], keep: bool = False) -> float:
    env = dict(os.environ, SUPABASE_INSTANCES_REGISTRY=str(dest.parent / "registry.json"))
    command = [str(COPIER), "copy", "--quiet", "--trust", "--defaults", *extra, str(template), str(dest)]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    elapsed = time.perf_counter() - start
    if not keep:
        shutil.rmtree(dest)
    return elapsed


def hook_seconds(template: Path, project: Path) -> float:
    """The secrets hook alone, as Copier runs it: a fresh Python in the project directory."""
    (project / "docker" / ".env").unlink(missing_ok=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, str(template / "hooks" / "generate_env.py")], cwd=project, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        work = Path(tmp)
        full, trivial = full_template(work), trivial_template(work)
        copy_seconds(full, work / "warm-full", ANSWERS)  # first runs fill OS caches
        copy_seconds(trivial, work / "warm-trivial", [])
        timings: dict[str, list[float]] = {"full": [], "trivial": [], "full_without_tasks": [], "hook": []}
        scratch = work / "scratch"
        copy_seconds(full, scratch, [*ANSWERS, "--skip-tasks"], keep=True)
        for index in range(args.repetitions):
            timings["full"].append(copy_seconds(full, work / f"full-{index}", ANSWERS))
            timings["trivial"].append(copy_seconds(trivial, work / f"trivial-{index}", []))
            timings["full_without_tasks"].append(
                copy_seconds(full, work / f"bare-{index}", [*ANSWERS, "--skip-tasks"])
            )
            timings["hook"].append(hook_seconds(full, scratch))
        rendered_files = sum(1 for path in scratch.rglob("*") if path.is_file())
    medians = {name: statistics.median(values) for name, values in timings.items()}
    ratio = medians["full"] / medians["trivial"]
    return {
        "name": "render",
        "what": "copier copy (CLI, --trust --defaults) of the full template vs a one-file template",
        "repetitions": args.repetitions,
        "rendered_files": rendered_files,
        "median_seconds": {name: round(value, 3) for name, value in medians.items()},
        "all_seconds": {name: [round(v, 3) for v in values] for name, values in timings.items()},
        "ratio": round(ratio, 2),
        # Where the difference goes: Copier's own cost per rendered file, and the secrets hook.
        "breakdown": {
            "copier_ms_per_file": round(
                1000 * (medians["full_without_tasks"] - medians["trivial"]) / max(rendered_files - 1, 1), 1
            ),
            "hook_share_of_full": round(medians["hook"] / medians["full"], 2),
        },
        "goal": f"ratio <= {GOAL}",
        "met": ratio <= GOAL,
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
