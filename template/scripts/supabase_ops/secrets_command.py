"""generate_secrets.py: fill in, check, show and rotate the secrets of docker/.env."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Optional

from . import cli
from .envfile import EnvFile
from .project import OpsError, Project
from .rotation import ROTATIONS, rotate
from .secrets import MissingDependency, check_env, describe, sync_env_file

DESCRIPTION = """\
The secrets of this instance live in docker/.env only (mode 0600, never committed).
This prints key names, never a value, unless --show asks for one.

Without an option: write docker/.env from docker/.env.example, keeping every value
already there and generating the missing secrets (what `copier copy` and `copier
update` do). Run it again any time: it never changes an existing value.
"""
INSTALL_HINT = (
    "install it with `sudo apt-get install python3-cryptography python3-bcrypt` "
    "or `python3 -m pip install --user cryptography bcrypt`"
)


def epilog() -> str:
    lines = ["rotations (--rotate WHAT):"]
    for name, rotation in ROTATIONS.items():
        needs_db = " Needs the running database." if rotation.database_step else ""
        text = textwrap.fill(f"{rotation.summary}.{needs_db}", width=76, subsequent_indent=" " * 15)
        lines.append(f"  {name:<12} {text}")
    lines += [
        "",
        "Each rotation first keeps the previous file as docker/.env.previous-<time> (0600), then",
        "recreates the running services whose settings changed (docker compose up -d).",
    ]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--check", action="store_true", help="refuse weak, demo or inconsistent values (exit 1)"
    )
    action.add_argument("--show", metavar="KEY", help="print the value of one key of docker/.env")
    action.add_argument("--rotate", choices=sorted(ROTATIONS), help="replace a group of secrets (below)")
    parser.add_argument(
        "--production",
        action="store_true",
        help="check with the production rules too (implies --check; automatic when ENVIRONMENT=production)",
    )
    parser.add_argument(
        "--no-restart", action="store_true", help="after --rotate, leave the running services alone"
    )


def run(args: argparse.Namespace) -> int:
    docker_dir = Path(args.project_dir).resolve() / "docker"
    try:
        if args.show:
            return show(docker_dir / ".env", args.show)
        if args.rotate:
            return rotate_secrets(args)
        if args.check or args.production:
            return check(docker_dir, args.production)
        for line in describe(sync_env_file(docker_dir)):
            print(line)
        return cli.EXIT_OK
    except MissingDependency as error:
        raise OpsError(f"{error}: {INSTALL_HINT}") from None


def _load(env_path: Path) -> EnvFile:
    if not env_path.is_file():
        raise OpsError(f"{env_path} is missing: run `python3 scripts/generate_secrets.py` to create it")
    return EnvFile.load(env_path)


def show(env_path: Path, key: str) -> int:
    values = _load(env_path).values()
    if key not in values:
        raise OpsError(f"docker/.env has no key {key!r}")
    print(values[key])
    return cli.EXIT_OK


def check(docker_dir: Path, production: bool) -> int:
    values = _load(docker_dir / ".env").values()
    example = docker_dir / ".env.example"
    keys = set(values) | (set(EnvFile.load(example).keys()) if example.is_file() else set())
    production = production or values.get("ENVIRONMENT") == "production"
    rules = "production" if production else "local"
    result = check_env(values, keys, production=production)
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if result.problems:
        print(f"docker/.env fails {len(result.problems)} check(s) ({rules} rules):")
        for problem in result.problems:
            print(f"  - {problem}")
        return cli.EXIT_FAILED
    print(f"docker/.env passes every check ({rules} rules)")
    return cli.EXIT_OK


def _running_services(project: Project) -> Optional[set[str]]:
    """The services of this instance that run now; None when Docker cannot be asked."""
    try:
        done = project.compose("ps", "--status", "running", "--services", capture=True)
    except OpsError:
        return None
    return set(done.stdout.decode().split())


def rotate_secrets(args: argparse.Namespace) -> int:
    project = Project(args.project_dir)
    rotation = ROTATIONS[args.rotate]
    running = _running_services(project)
    run_sql = None
    if rotation.database_step:
        if running is None:
            project.compose("version", capture=True)  # raises the reason Docker cannot be used
        if "db" not in (running or set()):
            raise OpsError(
                f"--rotate {args.rotate} changes the database too, and its container is not running: "
                "start the instance with `python3 scripts/start.py` (or `docker compose up -d db` "
                "in docker/), then run this again"
            )

        def run_sql(sql: str, database: str) -> str:
            return project.psql(sql, database=database).stdout.decode()

    result = rotate(project.env_path, args.rotate, run_sql)
    print(f"rotated {', '.join(result.changed)}")
    print(f"the previous docker/.env is kept as docker/{result.previous.name} (mode 0600)")
    if result.database:
        print(result.database)
    if running and not args.no_restart:
        cli.status("recreating the services whose settings changed (docker compose up -d) ...")
        project.compose("up", "-d")
        print("services recreated: check them with `python3 scripts/health_check.py`")
    elif running:
        print("the running services still use the old values: apply with `docker compose up -d` in docker/")
    else:
        print("the instance is not running: the new values apply when it starts")
    print(rotation.advice)
    return cli.EXIT_OK


def main(argv=None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv, epilog=epilog())
