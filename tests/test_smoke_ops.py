"""Compose tier, driven by the generated project's own scripts on the two running instances.

The scripts run as a user runs them (the system python3, stdlib only); the only test
setting is SUPABASE_COMPOSE_EXTRA_FILES, which adds the stand-in image override to every
compose call they make. Runs after test_smoke_compose.py: these tests stop and restore.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from standins.smoke import SmokeStack
from supabase_ops.secrets import SECRETS

pytestmark = [pytest.mark.docker, pytest.mark.slow]

PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable  # plain python3, no venv
CHECKSUM_SQL = (
    "select md5(coalesce(string_agg(id::text || ':' || item, ',' order by id), '')) from public.smoke_orders"
)


def script(
    stack: SmokeStack, name: str, *args: str, project: Path | None = None
) -> subprocess.CompletedProcess:
    """scripts/<name>.py of the project; fails the test if it printed any secret of docker/.env."""
    root = project or stack.project
    done = subprocess.run(
        [PYTHON, str(root / "scripts" / f"{name}.py"), *args],
        cwd=root,
        env={**stack.process_env(), "SUPABASE_COMPOSE_EXTRA_FILES": str(stack.override)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    leaked = [key for key in SECRETS if len(stack.env.get(key, "")) >= 8 and stack.env[key] in output]
    assert not leaked, f"{name}.py printed the value of {', '.join(leaked)}"
    assert "Traceback" not in output, f"{name}.py crashed:\n{output[-3000:]}"
    return done


def connect(stack: SmokeStack):
    return psycopg.connect(
        host="127.0.0.1",
        port=stack.port("POSTGRES_HOST_PORT"),
        user="postgres",
        password=stack.env["POSTGRES_PASSWORD"],
        dbname="postgres",
        connect_timeout=10,
        autocommit=True,
    )


def query(stack: SmokeStack, sql: str, *params) -> list[tuple]:
    """Run one statement as postgres; its rows, or [] for a statement that returns none."""
    with connect(stack) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def test_start_registers_both_instances_and_list_shows_them(smoke_instances):
    for stack in smoke_instances:
        done = script(stack, "start")
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"{stack.name} is up" in done.stdout
    done = script(smoke_instances[0], "list_instances", "--json")
    assert done.returncode == 0, done.stderr
    listed = {item["name"]: item for item in json.loads(done.stdout)["instances"]}
    for stack in smoke_instances:
        item = listed[stack.name]
        assert item["registered"] and item["port_offset"] == int(stack.env["PORT_OFFSET"])
        assert item["status"].startswith("running") and item["unhealthy"] == []
        assert Path(item["directory"]).resolve() == stack.project.resolve()


def test_calculate_ports_shows_the_published_ports(smoke_instances):
    for stack in smoke_instances:
        done = script(stack, "calculate_ports", "--json")
        assert done.returncode == 0, done.stderr
        shown = {
            (row["service"], int(row["container_port"].split("/")[0]), row["container_port"].split("/")[1],
             row["published"], row["host_port"])
            for row in json.loads(done.stdout)["ports"]
            if row["published"] != "no"
        }  # fmt: skip
        assert shown == stack.published_ports(), f"{stack.name}: calculate_ports.py and Docker disagree"


def test_validate_instance_reports_a_reused_port_or_name(smoke_instances, render):
    one = smoke_instances[0]
    same_ports = render(project_name="smoketest-three", port_offset=int(one.env["PORT_OFFSET"]))
    done = script(one, "validate_instance", "--json", project=same_ports)
    assert done.returncode == 1
    problems = " ".join(problem["message"] for problem in json.loads(done.stdout)["problems"])
    for variable in ("POSTGRES_HOST_PORT", "KONG_HTTP_PORT", "CADDY_HTTPS_PORT"):
        assert f"127.0.0.1:{one.env[variable]}/tcp for {variable}" in problems

    same_name = render(project_name=one.name, port_offset=300)
    done = script(one, "validate_instance", "--json", project=same_name)
    assert done.returncode == 1
    problems = " ".join(problem["message"] for problem in json.loads(done.stdout)["problems"])
    assert one.name in problems and str(one.project) in problems


def test_health_check_notices_a_stopped_service(smoke_instances):
    stack = smoke_instances[1]
    done = script(stack, "health_check", "--json")
    assert done.returncode == 0, done.stdout[-3000:]
    assert json.loads(done.stdout)["healthy"] is True

    stack.compose("stop", "rest")
    done = script(stack, "health_check", "--json")
    report = json.loads(done.stdout)
    assert done.returncode == 1 and report["healthy"] is False
    assert [probe["name"] for probe in report["probes"] if not probe["ok"]] == ["rest"]
    done = script(stack, "health_check")
    assert f"{stack.name}: UNHEALTHY (rest)" in done.stdout

    assert script(stack, "start").returncode == 0
    assert script(stack, "health_check").returncode == 0


def test_data_survives_stop_and_start(smoke_instances):
    stack = smoke_instances[1]
    marker = f"persisted-{uuid.uuid4()}"
    query(stack, "create table if not exists public.smoke_persistence (marker text)")
    query(stack, "insert into public.smoke_persistence values (%s)", marker)

    done = script(stack, "stop")
    assert done.returncode == 0, done.stderr
    label = f"label=com.docker.compose.project={stack.name}"
    running = subprocess.run(
        ["docker", "ps", "-aq", "--filter", label], capture_output=True, text=True
    ).stdout
    assert running.strip() == "", "stop.py left containers behind"
    volumes = subprocess.run(
        ["docker", "volume", "ls", "-q", "--filter", label], capture_output=True, text=True
    )
    assert f"{stack.name}_db-data" in volumes.stdout.split(), "stop.py must keep the data volume"

    done = script(stack, "start")
    assert done.returncode == 0, done.stderr[-3000:]
    assert query(stack, "select marker from public.smoke_persistence where marker = %s", marker) == [
        (marker,)
    ]


def test_backup_then_restore_brings_the_data_back(smoke_instances):
    stack = smoke_instances[0]
    query(stack, "create table if not exists public.smoke_orders (id int primary key, item text not null)")
    query(stack, "insert into public.smoke_orders select n, 'item ' || n from generate_series(1, 500) n")
    before = query(stack, CHECKSUM_SQL)

    done = script(stack, "backup", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    backup = json.loads(done.stdout)
    set_path = Path(backup["set"])
    assert set_path.is_dir() and (set_path / "manifest.json").is_file()
    for part in backup["manifest"]["parts"]:  # every file is what the manifest says
        data = (set_path / part["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == part["sha256"] and len(data) == part["bytes"]
        assert (set_path / part["file"]).stat().st_mode & 0o077 == 0, f"{part['file']} is readable by others"

    # A destructive change: rows gone, the example table dropped.
    query(stack, "delete from public.smoke_orders where id > 10")
    query(stack, "drop table public.notes")
    assert query(stack, CHECKSUM_SQL) != before

    done = script(stack, "restore", "latest")
    assert done.returncode == 1 and "--yes" in done.stderr, "restore must refuse without --yes"
    done = script(stack, "restore", backup["set"], "--yes")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert query(stack, CHECKSUM_SQL) == before
    assert query(stack, "select to_regclass('public.notes') is not null") == [(True,)]
    assert script(stack, "health_check").returncode == 0


def test_restore_drill_passes(smoke_instances):
    stack = smoke_instances[0]
    done = script(stack, "restore", "--drill", "latest")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "passed" in done.stdout
    leftovers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={stack.name}-drill"],
        capture_output=True,
        text=True,
    ).stdout
    assert leftovers.strip() == "", "the drill left its sibling instance behind"
