"""Start-up time of one instance, from `docker compose up` to every service healthy.

STAND-IN TIMING: the stack runs on the compose tier's local test images (a real PostgreSQL
booting like supabase/postgres, the real Caddy and Redis, and an HTTP stand-in for the other
services; tests/docker/compose.standins.yml). It measures the generated compose file's own
cost (start order, healthcheck intervals, the database's first boot with the init SQL), not
the official images' start-up, which is longer (migrations, JIT warm-up).

Series, alternating, on fresh volumes unless said: the database alone (`up --wait db`, the
baseline), the whole stack (cold: first boot), and the whole stack again on its kept volumes
(warm: `down` then `up`). Ratio: whole stack cold / database alone. Goal: at most GOAL,
i.e. the dependency chain after the database (services, gateway, functions and Caddy) costs
at most a few healthcheck intervals, whatever the machine's speed.

    python3 benchmarks/bench_startup.py [--repetitions N]     (needs Docker: .ci/provision.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from standins.engine import docker_unavailable_reason, remove_test_projects  # noqa: E402
from standins.images import BASE_IMAGE, build_images  # noqa: E402
from standins.smoke import SmokeStack  # noqa: E402

GOAL = 5.0
RESULTS = ROOT / "benchmarks" / "results" / "startup.md"
COPIER = Path(sys.executable).with_name("copier")


def render(dest: Path) -> Path:
    subprocess.run(
        [str(COPIER), "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", "HEAD", str(ROOT), str(dest),
         "-d", "project_name=smoketest-bench", "-d", "domain=localhost", "-d", "port_offset=400"],
        check=True, capture_output=True,
    )  # fmt: skip
    return dest


def seconds(duration: str) -> float:
    """A compose duration such as 5s, 1m30s or 500ms, in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"([0-9.]+)(ms|s|m|h)", duration or ""))


def healthcheck_floor(stack: SmokeStack) -> tuple[float, list[str]]:
    """The longest depends_on chain, counted in healthcheck intervals, and the chain itself.

    Docker runs a container's first healthcheck one interval after it starts, and a
    dependent container starts only when its dependencies are healthy: no start can be
    faster than this sum.
    """
    config = json.loads(stack.compose("config", "--format", "json", files=stack.base_files()).stdout)
    services = config["services"]
    memo: dict[str, tuple[float, list[str]]] = {}

    def floor(name: str) -> tuple[float, list[str]]:
        if name not in memo:
            own = seconds((services[name].get("healthcheck") or {}).get("interval", ""))
            before = max((floor(dep) for dep in services[name].get("depends_on") or {}), default=(0.0, []))
            memo[name] = (own + before[0], [*before[1], name])
        return memo[name]

    return max(floor(name) for name in services)


def timed_up(stack: SmokeStack, *services: str) -> float:
    started = time.perf_counter()
    stack.compose("up", "-d", "--wait", "--wait-timeout", "300", *services)
    return time.perf_counter() - started


def measure(stack: SmokeStack, repetitions: int) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {"database_alone": [], "stack_cold": [], "stack_warm": []}
    for _ in range(repetitions):
        series["database_alone"].append(timed_up(stack, "db"))
        stack.down()
        series["stack_cold"].append(timed_up(stack))
        stack.compose("down", "--timeout", "5")  # keeps the volumes
        series["stack_warm"].append(timed_up(stack))
        stack.down()
    return series


def report(result: dict, series: dict[str, list[float]]) -> str:
    floor, chain = result["healthcheck_floor_seconds"], " -> ".join(result["critical_chain"])
    rows = "\n".join(
        f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |"
        for name, values in series.items()
    )
    return f"""# Start-up time of one instance (stand-in images)

**These are stand-in timings**: the generated compose file run on the compose tier's local
test images (tests/docker/compose.standins.yml), not on the official Supabase images, whose
own start-up (migrations, JIT warm-up) adds to these numbers. What they do measure is the
cost of the generated stack's start order and healthchecks, and the database's first boot
with the project's init SQL.

Run: {time.strftime("%Y-%m-%d %H:%M %Z")} on {platform.platform()}, {os.cpu_count()} cores,
{result["repetitions"]} repetitions. Ratio = whole stack cold / database alone = **{result["ratio"]}**
(goal {result["goal"]}: {"met" if result["met"] else "NOT met"}).

| series | median (s) | runs (s) |
|---|---|---|
{rows}

- database_alone: `docker compose up -d --wait db` on fresh volumes (first boot, init SQL).
- stack_cold: `docker compose up -d --wait` of every service on fresh volumes.
- stack_warm: the same after `docker compose down` that kept the volumes (no init SQL).

Where the time goes: the longest `depends_on` chain is {chain}; the sum of its healthcheck
intervals is {floor:.0f} s, a floor no start can beat (Docker runs the first healthcheck one
interval after a container starts; a dependent starts only once its dependencies are
healthy). So the stack's start is dominated by healthcheck intervals, not by work, which is
also why the warm start is no faster than the cold one. Docker Engine 25+ can shorten this
with `start_interval`, which the template leaves out for older engines.

Reproduce: `python3 dev.py bench startup` (needs Docker: `bash .ci/provision.sh`).
"""


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    reason = docker_unavailable_reason(BASE_IMAGE)
    if reason:
        print(f"bench_startup: {reason}", file=sys.stderr)
        return 1
    remove_test_projects(only=["smoketest-bench"])
    build_images(log=lambda line: print(line, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        os.environ["SUPABASE_INSTANCES_REGISTRY"] = str(Path(tmp) / "registry.json")
        stack = SmokeStack(render(Path(tmp) / "smoketest-bench"))
        floor, chain = healthcheck_floor(stack)
        try:
            series = measure(stack, args.repetitions)
        finally:
            stack.down()
    medians = {name: round(statistics.median(values), 2) for name, values in series.items()}
    ratio = round(medians["stack_cold"] / medians["database_alone"], 2)
    result = {
        "name": "startup",
        "what": "up to all-healthy, one instance on the STAND-IN images: whole stack cold vs database alone",
        "median_seconds": medians,
        "ratio": ratio,
        "goal": f"ratio <= {GOAL}",
        "met": ratio <= GOAL,
        "repetitions": args.repetitions,
        "healthcheck_floor_seconds": floor,
        "critical_chain": chain,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report(result, series))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
