"""Runs every benchmarks/bench_*.py and records the results in benchmarks/results/.

Each benchmark is a script that prints one JSON object on stdout with at least `name`, `what`,
`ratio`, `goal` and `met` (a ratio against a baseline measured in the same run, so machines of
any speed compare). Results go to results/<name>.json and a table in results/README.md.

    python3 dev.py bench [NAME ...]      (NAME: bench_NAME.py; default: all)
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def run(script: Path) -> dict:
    print(f"running {script.name} ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {
            "name": script.stem.removeprefix("bench_"),
            "error": done.stderr.strip()[-2000:],
            "met": False,
        }
    return json.loads(done.stdout)


def summary(results: list[dict]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Last run: {time.strftime('%Y-%m-%d %H:%M %Z')} on {platform.platform()},"
        f" Python {platform.python_version()}.",
        "Ratios compare against a baseline measured in the same run; see each benchmark's docstring.",
        "",
        "| benchmark | what | medians (s) | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for result in results:
        if "error" in result:
            lines.append(f"| {result['name']} | failed: see {result['name']}.json | | | | no |")
            continue
        medians = ", ".join(f"{key} {value}" for key, value in result.get("median_seconds", {}).items())
        met = "yes" if result["met"] else "**no**"
        cells = [result["name"], result["what"], medians, result["ratio"], result["goal"], met]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def main(names: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        scripts = [script for script in scripts if script.stem.removeprefix("bench_") in names]
        if not scripts:
            print(f"no benchmark named {', '.join(names)}; see {HERE}/bench_*.py", file=sys.stderr)
            return 2
    RESULTS.mkdir(exist_ok=True)
    results = []
    for script in scripts:
        result = run(script)
        (RESULTS / f"{result['name']}.json").write_text(json.dumps(result, indent=2) + "\n")
        results.append(result)
        print(
            f"{result['name']}: ratio {result.get('ratio', '-')} (goal {result.get('goal', '-')})",
            file=sys.stderr,
        )
    recorded = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    (RESULTS / "README.md").write_text(summary(recorded))
    return 0 if all(result.get("met") for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
