"""The operations scripts end to end on a running stack (Docker, the local test images).

One rendered instance goes through start, health check, backup, a bad change, restore,
a restore drill, a failed deployment with its rollback, and stop. The images are the
compose tier's local builds (tests/docker/compose.standins.yml, through the scripts'
SUPABASE_COMPOSE_EXTRA_FILES); the scripts, Compose, PostgreSQL's tools and tar are real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from stack import free_port_offset
from supabase_ops.envfile import EnvFile
from supabase_ops.project import Project

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "smoketest-ops"  # the compose tier removes smoketest-* leftovers by label
STANDINS = ROOT / "tests" / "docker" / "compose.standins.yml"


def free_offset() -> int:
    """Searched from the top, away from the offsets test_ops_cli.py takes from the bottom."""
    return free_port_offset(range(23000, 10000, -100))


@pytest.fixture(scope="module")
def instance(render, tmp_path_factory):
    from standins.engine import docker_unavailable_reason
    from standins.images import BASE_IMAGE, build_images

    reason = docker_unavailable_reason(BASE_IMAGE)
    if reason:
        pytest.skip(reason)
    build_images(log=lambda message: None)
    project = render(project_name=NAME, port_offset=free_offset())
    env = {
        **os.environ,
        "SUPABASE_COMPOSE_EXTRA_FILES": str(STANDINS),
        "SUPABASE_INSTANCES_REGISTRY": str(tmp_path_factory.mktemp("registry") / "registry.json"),
    }
    yield project, env
    subprocess.run(
        [sys.executable, str(project / "scripts" / "stop.py"), "--volumes", "--yes"],
        env=env,
        capture_output=True,
        check=False,
    )


def run(instance, name: str, *args: str) -> subprocess.CompletedProcess:
    project, env = instance
    return subprocess.run(
        [sys.executable, "-S", str(project / "scripts" / f"{name}.py"), *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )


def sql(instance, query: str) -> str:
    project, _ = instance
    return Project(project, extra_files=[STANDINS]).psql(query).stdout.decode().strip()


def write_volume_file(volume: str, path: str, text: str) -> None:
    subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-i",
            "-v",
            f"{volume}:/v",
            "local/debian:bookworm",
            "sh",
            "-c",
            f"mkdir -p /v/$(dirname {path}) && cat > /v/{path}",
        ],
        input=text,
        text=True,
        check=True,
        capture_output=True,
    )


def secrets_of(project: Path) -> list[str]:
    from supabase_ops.secrets import SECRETS

    values = EnvFile.load(project / "docker" / ".env").values()
    return [values[key] for key in SECRETS if len(values.get(key, "")) >= 8]


def test_the_life_of_an_instance(instance):
    project, _ = instance
    outputs = []

    started = run(instance, "start")
    outputs.append(started)
    assert started.returncode == 0, started.stderr[-3000:]
    assert "is up:" in started.stdout and "docker/.env" in started.stdout

    checked = run(instance, "health_check", "--json")
    outputs.append(checked)
    report = json.loads(checked.stdout)
    assert checked.returncode == 0 and report["healthy"], checked.stdout
    assert {probe["name"] for probe in report["probes"]} >= {"db", "auth", "rest", "kong", "storage", "redis"}

    # data worth keeping: rows, an object in the storage volume
    sql(
        instance,
        "CREATE TABLE public.orders (id int PRIMARY KEY, item text);"
        "INSERT INTO public.orders SELECT g, 'item ' || g FROM generate_series(1, 250) g;",
    )
    storage = f"{NAME}_minio-data"
    write_volume_file(storage, "supabase-storage/avatars/1.txt", "avatar one")

    backed_up = run(instance, "backup", "--json")
    outputs.append(backed_up)
    assert backed_up.returncode == 0, backed_up.stderr[-3000:]
    manifest = json.loads(backed_up.stdout)["manifest"]
    kinds = {
        (part["kind"], part.get("volume") or part.get("database") or part["file"])
        for part in manifest["parts"]
    }
    assert {
        ("database", "postgres"),
        ("database", "_supabase"),
        ("roles", "roles.sql"),
        ("volume", "minio-data"),
        ("volume", "db-config"),
        ("files", "config.tar.gz"),
    } <= kinds
    assert manifest["images"]["db"]["image"] == "supabase-test/postgres:smoke"
    backup_set = Path(json.loads(backed_up.stdout)["set"])
    assert oct(backup_set.stat().st_mode & 0o777) == "0o700"

    # a bad day: rows deleted, a table added, the object replaced
    sql(instance, "DELETE FROM public.orders WHERE id > 10; CREATE TABLE public.mistake (x int);")
    write_volume_file(storage, "supabase-storage/avatars/1.txt", "overwritten")

    refused = run(instance, "restore", backup_set.name)
    assert refused.returncode == 1 and "Run again with --yes" in refused.stderr

    restored = run(instance, "restore", backup_set.name, "--yes", "--json")
    outputs.append(restored)
    result = json.loads(restored.stdout)
    assert restored.returncode == 0 and result["ok"], restored.stderr[-3000:]
    assert sql(instance, "SELECT count(*) FROM public.orders") == "250"
    assert sql(instance, "SELECT to_regclass('public.mistake') IS NULL") == "t"
    with_file = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "-v",
            f"{storage}:/v:ro",
            "local/debian:bookworm",
            "cat",
            "/v/supabase-storage/avatars/1.txt",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert with_file.stdout == "avatar one"
    safety = Path(result["safety_backup"])
    assert safety.is_dir() and safety.name > backup_set.name  # taken before the restore

    drilled = run(instance, "restore", "--drill", backup_set.name, "--json")
    outputs.append(drilled)
    drill = json.loads(drilled.stdout)
    assert drilled.returncode == 0 and drill["ok"], drilled.stderr[-3000:]
    assert {"schema": "public", "table": "orders", "rows": 250} in drill["row_counts"]
    leftovers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={NAME}-drill"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert leftovers.stdout.strip() == ""
    assert not [
        v
        for v in subprocess.run(
            ["docker", "volume", "ls", "-q"], capture_output=True, text=True, check=True
        ).stdout.split()
        if v.startswith(f"{NAME}-drill_")
    ]

    # a deployment whose auth never gets healthy is rolled back to the known-good files
    broken = project / "docker" / "docker-compose.override.yml"
    broken.write_text(
        "services:\n  auth:\n    healthcheck:\n      test: [CMD, 'false']\n      interval: 1s\n"
        "      retries: 1\n      start_period: 0s\n"
    )
    deployed = run(instance, "deploy", "--local", "--no-backup", "--timeout", "60", "--json")
    outputs.append(deployed)
    deployment = json.loads(deployed.stdout)
    assert deployed.returncode == 1 and deployment["result"] == "rolled back", deployed.stderr[-3000:]
    assert deployment["rollback"]["restored_files"] == ["docker/docker-compose.override.yml"]
    assert not broken.exists()
    assert (Path(deployment["rollback"]["failed_files"]) / "docker" / "docker-compose.override.yml").is_file()
    assert run(instance, "health_check").returncode == 0

    stopped = run(instance, "stop")
    assert stopped.returncode == 0 and "volumes are kept" in stopped.stdout
    volumes = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True, check=True)
    assert f"{NAME}_db-data" in volumes.stdout.split()  # a stop keeps the data

    secrets = secrets_of(project)
    leaked = [s for s in secrets for done in outputs if s in done.stdout or s in done.stderr]
    assert not leaked, f"{len(leaked)} secret value(s) printed"
