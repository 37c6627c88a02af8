"""The generated project's scripts/ as users run them: plain python3, standard library only.

Every script runs with `python3 -S` (no site-packages), in a project rendered by Copier.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tool
from stack import free_port_offset

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import ports, registry, schedule, secrets
from supabase_ops.envfile import EnvFile
from supabase_ops.project import OpsError, Project

ENTRY_POINTS = [
    "start",
    "stop",
    "health_check",
    "backup",
    "restore",
    "deploy",
    "calculate_ports",
    "validate_instance",
    "list_instances",
    "switch_instance",
]


@pytest.fixture
def registry_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "registry.json"
    monkeypatch.setenv("SUPABASE_INSTANCES_REGISTRY", str(path))
    return path


def script(project: Path, name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run scripts/<name>.py with the standard library only (-S: no site-packages)."""
    return subprocess.run(
        [sys.executable, "-S", str(project / "scripts" / f"{name}.py"), *args],
        cwd=cwd or project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def secret_values(project: Path) -> list[str]:
    values = EnvFile.load(project / "docker" / ".env").values()
    return [values[key] for key in secrets.SECRETS if len(values.get(key, "")) >= 8]


def assert_no_secret(project: Path, *outputs: str) -> None:
    leaked = [value for value in secret_values(project) if any(value in output for output in outputs)]
    assert not leaked, f"{len(leaked)} secret value(s) printed"


def assert_clean_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in done.stderr


def free_offset() -> int:
    """An offset whose ports are all free here (below the ephemeral range)."""
    return free_port_offset(range(10000, 23000, 100))


# ---------------------------------------------------------------------- --help
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_help_works_with_the_standard_library_only(default_project, name, tmp_path):
    done = script(default_project, name, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {name}.py")
    assert "--project-dir" in done.stdout
    assert done.stderr == ""


def test_every_module_and_entry_point_runs_on_python_3_9(default_project, tmp_path):
    """Servers may have Python 3.9: compile everything with it and ask every script for --help."""
    candidates = [
        shutil.which("python3.9"),
        *map(str, Path.home().glob(".pyenv/versions/3.9*/bin/python3.9")),
    ]
    working = [
        c for c in candidates if c and subprocess.run([c, "-c", "pass"], capture_output=True).returncode == 0
    ]
    if not working:
        pytest.skip("python3.9 is not installed here")
    python39 = working[0]
    scripts = default_project / "scripts"
    compiled = subprocess.run(
        [
            python39,
            "-c",
            "import compileall, sys; sys.exit(not compileall.compile_dir(sys.argv[1], quiet=1, "
            "legacy=True, ddir='x'))",
            str(scripts),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    shutil.rmtree(scripts / "supabase_ops" / "__pycache__", ignore_errors=True)
    for pyc in scripts.rglob("*.pyc"):
        pyc.unlink()
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    for name in ENTRY_POINTS:
        done = subprocess.run(
            [python39, "-S", str(scripts / f"{name}.py"), "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0 and done.stdout.startswith(f"usage: {name}.py"), done.stderr


def test_entry_points_are_thin_and_executable(default_project):
    for name in ENTRY_POINTS:
        path = default_project / "scripts" / f"{name}.py"
        assert os.access(path, os.X_OK)
        assert len(path.read_text().splitlines()) <= 10
        assert path.read_text().startswith("#!/usr/bin/env python3\n")


# ---------------------------------------------------------------------- calculate_ports
def test_calculate_ports_shows_and_writes_an_offset(render, registry_file):
    project = render(project_name="ports-shop", port_offset=0)
    env_path = project / "docker" / ".env"
    before = EnvFile.load(env_path).values()

    shown = script(project, "calculate_ports", "--offset", "300", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert {row["variable"]: row["host_port"] for row in data["ports"]} == ports.port_map(300)
    assert EnvFile.load(env_path).values() == before  # showing changes nothing

    written = script(project, "calculate_ports", "--offset", "300", "--write")
    assert written.returncode == 0, written.stderr
    after = EnvFile.load(env_path).values()
    expected = {
        **before,
        **{key: str(port) for key, port in ports.port_map(300).items()},
        "PORT_OFFSET": "300",
        "API_EXTERNAL_URL": "http://localhost:8300",
        "SUPABASE_PUBLIC_URL": "http://localhost:8300",
        "STUDIO_EXTERNAL_URL": "http://localhost:3300",
    }
    assert after == expected
    assert (env_path.stat().st_mode & 0o777) == 0o600
    assert "restart to apply" in written.stdout
    assert_no_secret(project, shown.stdout, written.stdout, written.stderr)

    again = script(project, "calculate_ports", "--write")
    assert "nothing changed" in again.stdout


def test_calculate_ports_refuses_overflow_and_taken_offsets(render, registry_file):
    project = render(project_name="ports-shop", port_offset=0)
    registry.register("other-shop", 500, project.parent, "local")

    overflow = script(project, "calculate_ports", "--offset", "60000", "--write")
    assert_clean_error(overflow, "port_offset 60000 would put", "above 65535", f"at most {ports.MAX_OFFSET}")

    taken = script(project, "calculate_ports", "--offset", "500", "--write")
    assert_clean_error(taken, "port offset 500 is already used by instance 'other-shop'", "try --offset 0")
    assert EnvFile.load(project / "docker" / ".env").get("PORT_OFFSET") == "0"


# ---------------------------------------------------------------------- registry and switching
def test_register_find_and_unregister_an_instance(render, registry_file, tmp_path):
    project = render(project_name="switch-shop", port_offset=200)

    registered = script(project, "switch_instance", "--register")
    assert registered.returncode == 0, registered.stderr
    entry = json.loads(registry_file.read_text())["instances"]["switch-shop"]
    assert entry == {"port_offset": 200, "directory": str(project.resolve()), "environment": "local"}
    assert registry.next_free_offset() == 0 and registry.next_free_offset({"a": {"port_offset": 0}}) == 100

    listing = script(project, "switch_instance")
    assert any(line.split()[:2] == ["*", "switch-shop"] for line in listing.stdout.splitlines())

    path = script(project, "switch_instance", "switch-shop", "--path", cwd=tmp_path)
    assert path.stdout.strip() == str(project.resolve())

    printed = script(project, "switch_instance", "switch-shop", "--print-env", cwd=tmp_path)
    pairs = dict(line.split("=", 1) for line in printed.stdout.splitlines())
    values = {key: shlex.split(value)[0] if value else "" for key, value in pairs.items()}
    assert values["SUPABASE_PROJECT_DIR"] == str(project.resolve())
    assert values["COMPOSE_PROJECT_NAME"] == "switch-shop"
    assert values["COMPOSE_FILE"].split(":") == [
        str(project.resolve() / "docker" / "docker-compose.yml"),
        str(project.resolve() / "docker" / "docker-compose.local.yml"),
    ]
    assert values["KONG_HTTP_PORT"] == "8200"
    assert_no_secret(project, printed.stdout, listing.stdout)

    gone = script(project, "switch_instance", "switch-shop", "--unregister")
    assert gone.returncode == 0 and "switch-shop" not in json.loads(registry_file.read_text())["instances"]
    assert_clean_error(
        script(project, "switch_instance", "switch-shop", "--unregister"), "is not in the registry"
    )


def test_unknown_instance_is_a_clean_error(default_project, registry_file):
    done = script(default_project, "switch_instance", "no-such-shop", "--path")
    assert_clean_error(done, "no instance named 'no-such-shop'")


def test_registering_a_taken_offset_is_refused(render, registry_file):
    project = render(project_name="switch-shop", port_offset=200)
    registry.register("first-shop", 200, project.parent, "local")
    assert_clean_error(
        script(project, "switch_instance", "--register"), "already used by instance 'first-shop'"
    )


# ---------------------------------------------------------------------- validation
@pytest.fixture
def free_project(render, registry_file):
    tool("docker")
    return render(project_name="validate-shop", port_offset=free_offset())


def test_validate_passes_then_finds_a_really_bound_port(free_project):
    project = free_project
    clean = script(project, "validate_instance")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "env, containers, volumes, ports ok" in clean.stdout

    kong_port = int(EnvFile.load(project / "docker" / ".env").get("KONG_HTTP_PORT"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", kong_port))
        holder.listen()
        busy = script(project, "validate_instance")
        forced = script(project, "validate_instance", "--force", "--json")

    assert busy.returncode == 1
    assert f"127.0.0.1:{kong_port}/tcp for KONG_HTTP_PORT (kong) is in use" in busy.stdout
    assert "Traceback" not in busy.stderr
    assert forced.returncode == 0
    report = json.loads(forced.stdout)
    assert report["ok"] is False
    assert [p["check"] for p in report["problems"]] == ["ports"]
    assert_no_secret(project, busy.stdout, forced.stdout)


def test_validate_reports_missing_keys_and_empty_secrets_without_printing_secrets(free_project):
    project = free_project
    env = EnvFile.load(project / "docker" / ".env")
    env.lines = [line for line in env.lines if line.key != "LOG_MAX_SIZE"]
    env.set("JWT_SECRET", "")
    env.write()

    done = script(project, "validate_instance", "--json")

    assert done.returncode == 1
    messages = [p["message"] for p in json.loads(done.stdout)["problems"]]
    assert any("lacks LOG_MAX_SIZE" in m for m in messages)
    assert any(m.startswith("docker/.env: JWT_SECRET is empty") for m in messages)
    assert_no_secret(project, done.stdout, done.stderr)


@pytest.mark.docker
def test_own_containers_ports_are_fine_and_foreign_names_conflict(free_project):
    """A container of this instance (compose labels, this directory) publishing its port is
    not a conflict; a container with one of the instance's names from elsewhere is."""
    project = free_project
    docker_dir = (project / "docker").resolve()
    kong_port = EnvFile.load(project / "docker" / ".env").get("KONG_HTTP_PORT")
    own = [
        "docker",
        "run",
        "-d",
        "--name",
        "validate-shop_kong",
        "--label",
        "com.docker.compose.project=validate-shop",
        "--label",
        f"com.docker.compose.project.working_dir={docker_dir}",
        "--label",
        "com.docker.compose.service=kong",
        "-p",
        f"127.0.0.1:{kong_port}:8000",
        "local/debian:bookworm",
        "sleep",
        "300",
    ]
    foreign = [
        "docker",
        "run",
        "-d",
        "--name",
        "validate-shop_studio",
        "local/debian:bookworm",
        "sleep",
        "300",
    ]
    try:
        if subprocess.run(own, capture_output=True, check=False).returncode != 0:
            pytest.skip("cannot run local/debian:bookworm (run bash .ci/provision.sh)")
        own_only = script(project, "validate_instance")
        subprocess.run(foreign, capture_output=True, check=True)
        with_foreign = script(project, "validate_instance")
        registry.register("validate-shop", 0, project, "local")
        listed = script(project, "list_instances", "--json")
    finally:
        subprocess.run(
            ["docker", "rm", "-f", "validate-shop_kong", "validate-shop_studio"],
            capture_output=True,
            check=False,
        )

    assert own_only.returncode == 0, own_only.stdout
    assert with_foreign.returncode == 1
    assert "container validate-shop_studio already exists (no compose project)" in with_foreign.stdout
    assert "KONG_HTTP_PORT" not in with_foreign.stdout  # its port is held by its own container
    instances = {i["name"]: i for i in json.loads(listed.stdout)["instances"]}
    listed_shop = instances["validate-shop"]
    assert listed_shop["status"] == "running 1/1" and listed_shop["directory"] == str(project)
    assert listed_shop["ports"] == [f"127.0.0.1:{kong_port}"]


# ---------------------------------------------------------------------- refusals without a stack
def test_destructive_and_mismatched_commands_refuse_cleanly(render, registry_file):
    project = render(project_name="refuse-shop", port_offset=0)

    stop = script(project, "stop", "--volumes")
    assert_clean_error(stop, "--volumes deletes every volume of refuse-shop", "--yes")

    deploy = script(project, "deploy", "--production")
    assert_clean_error(deploy, "--production does not match ENVIRONMENT=local")

    listing = script(project, "restore")
    assert listing.returncode == 0 and "no backup sets in" in listing.stdout

    missing = script(project, "restore", "20250101T000000Z", "--yes")
    assert_clean_error(missing, "no backup set '20250101T000000Z'")

    usage = script(project, "deploy")
    assert usage.returncode == 2 and "one of the arguments --local --production is required" in usage.stderr


def test_a_directory_that_is_not_an_instance_is_a_clean_error(default_project, tmp_path):
    done = script(default_project, "health_check", "--project-dir", str(tmp_path))
    assert_clean_error(done, f"{tmp_path} is not a Supabase instance directory")


# ---------------------------------------------------------------------- backup schedule
@pytest.fixture
def crontab():
    """The real crontab of an unprivileged user, emptied afterwards."""
    if os.geteuid() != 0:
        pytest.skip("editing another user's crontab needs root")
    command = [tool("crontab"), "-u", "nobody"]
    subprocess.run([*command, "-r"], capture_output=True, check=False)
    yield command
    subprocess.run([*command, "-r"], capture_output=True, check=False)


def crontab_lines(command) -> list[str]:
    return subprocess.run([*command, "-l"], capture_output=True, text=True, check=False).stdout.splitlines()


def test_schedules_are_idempotent_and_per_instance(render, registry_file, crontab):
    first = Project(render(project_name="cron-one"))
    second = Project(render(project_name="cron-two"))
    env = second.env_file()
    env.set("BACKUP_SCHEDULE", "15 4 * * 0")
    env.write()
    subprocess.run([*crontab, "-"], input="MAILTO=ops@example.com\n", text=True, check=True)

    line, changed = schedule.install_cron(first, crontab)
    assert changed
    schedule.install_cron(second, crontab)
    assert schedule.install_cron(first, crontab) == (line, False)  # again: nothing changes

    lines = crontab_lines(crontab)
    assert lines[0] == "MAILTO=ops@example.com"
    assert [entry.split(" # ")[-1] for entry in lines[1:]] == [
        "supabase-backup:cron-one",
        "supabase-backup:cron-two",
    ]
    assert lines[1].startswith("30 2 * * * cd ") and f"cd {first.root} &&" in lines[1]
    assert "scripts/backup.py --quiet --label scheduled" in lines[1]
    assert lines[2].startswith("15 4 * * 0 ")

    assert schedule.remove_cron(first, crontab)
    assert not schedule.remove_cron(first, crontab)
    assert [entry.split(" # ")[-1] for entry in crontab_lines(crontab)] == [
        "MAILTO=ops@example.com",
        "supabase-backup:cron-two",
    ]


def test_schedule_rules(render, registry_file, tmp_path):
    project = Project(render(project_name="cron-one"))
    assert schedule.on_calendar("30 2 * * *") == "*-*-* 02:30:00"
    with pytest.raises(OpsError, match="cannot be turned into a systemd timer"):
        schedule.on_calendar("*/15 * * * *")
    env = project.env_file()
    env.set("BACKUP_SCHEDULE", "every night")
    env.write()
    with pytest.raises(
        OpsError, match=r"BACKUP_SCHEDULE='every night' in docker/.env is not a cron schedule"
    ):
        schedule.cron_line(project)


def test_next_free_offset_skips_offsets_whose_ports_clash():
    # At offset 1000 Kong's 8000 lands on 9000, MinIO's port at offset 0: not free.
    taken = {f"i{n}": {"port_offset": n * 100} for n in range(10)}
    offset = registry.next_free_offset(taken)
    assert offset % 100 == 0 and offset >= 1000
    assert not any(ports.offsets_collide(offset, entry["port_offset"]) for entry in taken.values())
    assert registry.offset_owner(1000, exclude="", instances=taken) == "i0"
