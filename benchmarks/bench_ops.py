"""Operations scripts: backup and restore throughput, health-check concurrency, --help start-up.

- Backup: the scripts' database backup (supabase_ops: streamed pg_dump -Fc, SHA-256, 0600
  files, fsync, pg_restore --list check, atomic set) against a bare `pg_dump -Fc -f`, on a
  database of at least 500 MB in a throwaway cluster; goal >= 0.9x the bare throughput.
- Restore: the scripts' restore of that database (drop WITH (FORCE), `pg_restore --create`
  fed from the set) against `dropdb --force` + `pg_restore --create` of the same file;
  goal >= 0.9x.
- Health check: the probe runner's wall time over local HTTP services of different speeds
  against its slowest single probe; goal <= 1.3x (probes run concurrently).
- `--help` of every entry point under `python3 -S` (standard library only); goal < 150 ms.

Baselines run in the same process, alternating with the measured code, so the machine's
speed cancels out. Writes benchmarks/results/ops.md and prints the JSON that run.py keeps.

    python3 benchmarks/bench_ops.py [--size-mb 520] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import http.server
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "template" / "scripts"
sys.path[:0] = [str(SCRIPTS), str(ROOT / "tests")]

from pgcluster import PostgresCluster  # noqa: E402
from supabase_ops import backupset, health, pgclient  # noqa: E402
from supabase_ops.backup import write_database_parts  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ENTRY_POINTS = sorted(path.name for path in SCRIPTS.glob("*.py") if path.name != "generate_secrets.py")
GOALS = {"backup": 0.9, "restore": 0.9, "health": 1.3, "help_ms": 150}


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# ---------------------------------------------------------------------- database
def fill(cluster: PostgresCluster, size_mb: int) -> int:
    """Rows of hashes (they compress about as well as real data) until the database has size_mb."""
    cluster.psql(
        "CREATE TABLE public.events (id bigint PRIMARY KEY, actor text, payload text, at timestamptz);"
        "CREATE INDEX ON public.events (actor);"
    )
    batch = 500_000
    start = 0
    while True:
        cluster.psql(
            f"INSERT INTO public.events SELECT g, md5(g::text), md5(g::text) || md5((g * 7)::text) "  # noqa: S608
            f"|| md5((g * 13)::text), '2025-01-01'::timestamptz + g * interval '1 second' "
            f"FROM generate_series({start}, {start + batch - 1}) g"
        )
        start += batch
        size = int(cluster.psql("SELECT pg_database_size('postgres')").strip())
        if size >= size_mb * 1024 * 1024:
            cluster.psql("VACUUM ANALYZE public.events")
            return size


def bench_database(size_mb: int, repetitions: int) -> dict:
    base = Path(tempfile.mkdtemp(prefix="bench-ops-pg-"))
    base.chmod(0o755)
    cluster = PostgresCluster(base / "cluster", password="bench-superuser-password")  # noqa: S106
    try:
        cluster.start()
        size = fill(cluster, size_mb)
        pg = pgclient.HostPg(cluster.bin, "127.0.0.1", cluster.port, cluster.password)
        env = cluster.env()
        raw_file = base / "raw.dump"
        sets = base / "sets"

        def raw_backup():
            raw_file.unlink(missing_ok=True)
            subprocess.run(
                [str(cluster.bin / "pg_dump"), "-Fc", "-f", str(raw_file), "postgres"], env=env, check=True
            )

        def ops_backup():
            shutil.rmtree(sets, ignore_errors=True)
            with backupset.SetWriter(sets) as writer:
                write_database_parts(pg, writer, quiet=True)
                writer.finish({"project": "bench"})

        def raw_restore():
            subprocess.run([str(cluster.bin / "dropdb"), "--force", "postgres"], env=env, check=True)
            subprocess.run(
                [str(cluster.bin / "pg_restore"), "--create", "-d", "template1", str(raw_file)],
                env=env,
                check=True,
            )

        def ops_restore():
            backup_set = backupset.list_sets(sets)[-1]
            part = backup_set.parts("database")[0]
            errors = pgclient.restore_database(pg, "postgres", backup_set.file(part))
            assert not errors, errors

        times: dict[str, list[float]] = {
            "raw_backup": [],
            "ops_backup": [],
            "raw_restore": [],
            "ops_restore": [],
        }
        for _ in range(repetitions):
            times["raw_backup"].append(timed(raw_backup))
            times["ops_backup"].append(timed(ops_backup))
        for _ in range(repetitions):
            times["raw_restore"].append(timed(raw_restore))
            times["ops_restore"].append(timed(ops_restore))
        dump_bytes = backupset.list_sets(sets)[-1].parts("database")[0]["bytes"]
        median = {key: round(statistics.median(values), 2) for key, values in times.items()}
        return {
            "database_bytes": size,
            "dump_bytes": dump_bytes,
            "raw_dump_bytes": raw_file.stat().st_size,
            "median_seconds": median,
            "all_seconds": {key: [round(v, 2) for v in values] for key, values in times.items()},
            # throughput ratio = bare time / scripts' time (same bytes both ways)
            "backup_ratio": round(median["raw_backup"] / median["ops_backup"], 3),
            "restore_ratio": round(median["raw_restore"] / median["ops_restore"], 3),
        }
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


# ---------------------------------------------------------------------- health check
class DelayedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(int(self.path.strip("/")) / 1000)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def bench_health(repetitions: int) -> dict:
    """Fourteen services, as in the stack, answering in 5 to 400 ms."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), DelayedHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    delays = [5, 10, 10, 20, 20, 30, 40, 50, 60, 80, 100, 150, 250, 400]
    probes = [
        health.http_probe(f"service-{n}", f"http://127.0.0.1:{server.server_address[1]}/{delay}")
        for n, delay in enumerate(delays)
    ]
    ratios, walls, slowest = [], [], []
    try:
        for _ in range(repetitions):
            started = time.perf_counter()
            results = health.run_probes(probes, timeout=5)
            wall = time.perf_counter() - started
            assert health.healthy(results)
            worst = max(result.latency_ms for result in results) / 1000
            walls.append(wall)
            slowest.append(worst)
            ratios.append(wall / worst)
    finally:
        server.shutdown()
        server.server_close()
    return {
        "probes": len(probes),
        "median_wall_seconds": round(statistics.median(walls), 3),
        "median_slowest_probe_seconds": round(statistics.median(slowest), 3),
        "sum_of_delays_seconds": sum(delays) / 1000,
        "ratio": round(statistics.median(ratios), 3),
    }


# ---------------------------------------------------------------------- --help
def bench_help(repetitions: int) -> dict:
    def run(*args: str) -> float:
        return timed(lambda: subprocess.run([sys.executable, "-S", *args], capture_output=True, check=True))

    interpreter = statistics.median(run("-c", "pass") for _ in range(repetitions))
    scripts = {
        name: round(
            statistics.median(run(str(SCRIPTS / name), "--help") for _ in range(repetitions)) * 1000, 1
        )
        for name in ENTRY_POINTS
    }
    return {
        "interpreter_ms": round(interpreter * 1000, 1),
        "scripts_ms": scripts,
        "max_ms": max(scripts.values()),
    }


# ---------------------------------------------------------------------- report
def write_markdown(result: dict) -> None:
    db, hc, hp = result["database"], result["health"], result["help"]
    ms = db["median_seconds"]
    mib = db["database_bytes"] / 2**20
    lines = [
        "# Operations benchmarks",
        "",
        f"Run {result['date']} on {result['machine']}, Python {platform.python_version()}, "
        f"PostgreSQL client tools {result['postgres']}. Produced by `benchmarks/bench_ops.py`.",
        "",
        "| measure | scripts | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|",
        f"| backup of a {mib:.0f} MiB database (throughput) | {ms['ops_backup']} s | "
        f"{ms['raw_backup']} s (`pg_dump -Fc -f`) | {db['backup_ratio']}x | >= {GOALS['backup']}x | "
        f"{'yes' if db['backup_ratio'] >= GOALS['backup'] else '**no**'} |",
        f"| restore of that database (throughput) | {ms['ops_restore']} s | "
        f"{ms['raw_restore']} s (`dropdb --force` + `pg_restore --create`) | {db['restore_ratio']}x | "
        f">= {GOALS['restore']}x | {'yes' if db['restore_ratio'] >= GOALS['restore'] else '**no**'} |",
        f"| health check of {hc['probes']} services, wall time | {hc['median_wall_seconds']} s | "
        f"{hc['median_slowest_probe_seconds']} s (slowest single probe) | {hc['ratio']}x | "
        f"<= {GOALS['health']}x | {'yes' if hc['ratio'] <= GOALS['health'] else '**no**'} |",
        f"| `--help`, slowest entry point | {hp['max_ms']} ms | {hp['interpreter_ms']} ms "
        f"(`python3 -S -c pass`) | | < {GOALS['help_ms']} ms | "
        f"{'yes' if hp['max_ms'] < GOALS['help_ms'] else '**no**'} |",
        "",
        f"Dump size: {db['dump_bytes'] / 2**20:.1f} MiB "
        f"(bare pg_dump: {db['raw_dump_bytes'] / 2**20:.1f} MiB). "
        f"Every run (s): `{json.dumps(db['all_seconds'])}`.",
        f"Health probes answered in 5 to 400 ms (sum {hc['sum_of_delays_seconds']} s if run one by one).",
        "",
        "`--help` per entry point (median ms): "
        + ", ".join(f"{name} {value}" for name, value in hp["scripts_ms"].items())
        + ".",
        "",
    ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ops.md").write_text("\n".join(lines))


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=520, help="database size to generate (>= 500)")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    pg_dump = shutil.which("pg_dump") or "/usr/lib/postgresql/15/bin/pg_dump"
    result = {
        "name": "ops",
        "what": "backup/restore vs bare pg_dump/pg_restore; health wall vs slowest probe; --help start-up",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.node()} ({platform.machine()}, {platform.platform()})",
        "postgres": subprocess.run([pg_dump, "--version"], capture_output=True, text=True).stdout.strip(),
        "database": bench_database(args.size_mb, args.repetitions),
        "health": bench_health(max(args.repetitions, 15)),
        "help": bench_help(max(args.repetitions, 7)),
    }
    db, hc, hp = result["database"], result["health"], result["help"]
    result["median_seconds"] = {
        **db["median_seconds"],
        "health_wall": hc["median_wall_seconds"],
        "help_max": round(hp["max_ms"] / 1000, 3),
    }
    result["ratio"] = f"backup {db['backup_ratio']}x, restore {db['restore_ratio']}x, health {hc['ratio']}x"
    result["goal"] = (
        f"backup/restore >= 0.9x, health <= 1.3x, --help < {GOALS['help_ms']} ms ({hp['max_ms']} ms)"
    )
    result["met"] = (
        db["backup_ratio"] >= GOALS["backup"]
        and db["restore_ratio"] >= GOALS["restore"]
        and hc["ratio"] <= GOALS["health"]
        and hp["max_ms"] < GOALS["help_ms"]
    )
    write_markdown(result)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
