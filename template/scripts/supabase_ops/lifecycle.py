"""start.py and stop.py: bring this instance up (validated, registered) or down (data kept)."""

from __future__ import annotations

import argparse

from . import cli
from .project import OpsError, Project

START_DESCRIPTION = """\
Start this instance: check it first (validate_instance.py: .env, names, volumes, free
ports), register it in the host's instance registry, then `docker compose up -d --wait`
with the files of its environment. Prints where the API and Studio answer; the keys stay
in docker/.env (never printed).
"""

STOP_DESCRIPTION = """\
Stop this instance: `docker compose down` removes its containers and network and keeps
every volume (database, storage, certificates). --volumes also deletes the volumes, i.e.
ALL DATA of the instance, and needs --yes; take a backup first (backup.py).
"""

DEFAULT_TIMEOUT = 300


def urls(project: Project) -> list[tuple[str, str]]:
    env = project.env
    if project.environment == "production":
        return [
            ("API", f"https://{env.get('API_DOMAIN')}"),
            (
                "Studio",
                f"https://{env.get('STUDIO_DOMAIN')} (user {env.get('DASHBOARD_USERNAME', 'supabase')})",
            ),
        ]
    https_port = env.get("CADDY_HTTPS_PORT", "")
    return [
        ("API", env.get("API_EXTERNAL_URL", "")),
        ("Studio", env.get("STUDIO_EXTERNAL_URL", "")),
        ("API via Caddy", f"https://{env.get('API_DOMAIN')}:{https_port}"),
        (
            "Studio via Caddy",
            f"https://{env.get('STUDIO_DOMAIN')}:{https_port} (user {env.get('DASHBOARD_USERNAME')})",
        ),
        (
            "Postgres",
            f"postgresql://postgres@127.0.0.1:{env.get('POSTGRES_HOST_PORT')}/{env.get('POSTGRES_DB')}",
        ),
        (
            "Pooler",
            f"postgresql://postgres.{env.get('POOLER_TENANT_ID')}@127.0.0.1:"
            f"{env.get('POOLER_TRANSACTION_HOST_PORT')}/{env.get('POSTGRES_DB')}",
        ),
    ]


def print_urls(project: Project) -> None:
    width = max(len(label) for label, _ in urls(project))
    for label, url in urls(project):
        print(f"  {label.ljust(width)}  {url}")
    print(
        "  Keys and passwords are in docker/.env (ANON_KEY, SUPABASE_PUBLISHABLE_KEY, SERVICE_ROLE_KEY, "
        "DASHBOARD_PASSWORD, POSTGRES_PASSWORD);\n"
        "  show one with `python3 scripts/generate_secrets.py --show ANON_KEY`."
    )


def start(project: Project, force: bool = False, timeout: int = DEFAULT_TIMEOUT) -> None:
    from . import checks, deploy, registry

    checks.enforce(checks.validate(project), force)
    registry.register(project.name, project.port_offset(), project.root, project.environment)
    cli.status(
        f"starting {project.name} ({project.environment}); the first start pulls images and takes a while"
    )
    done = project.compose(
        "up", "-d", "--wait", "--wait-timeout", str(timeout), "--remove-orphans", check=False
    )
    if done.returncode != 0:
        raise OpsError(
            f"`docker compose up` did not get every service healthy within {timeout}s: "
            "`python3 scripts/health_check.py` shows which; docs/TROUBLESHOOTING.md lists the usual causes"
        )
    deploy.save_known_good(project)


def configure_start(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="start despite conflicts found by the checks")
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds to wait for healthy services ({DEFAULT_TIMEOUT})",
    )


def run_start(args: argparse.Namespace) -> int:
    project = cli.project(args)
    start(project, args.force, args.timeout)
    print(f"{project.name} is up:")
    print_urls(project)
    return cli.EXIT_OK


def configure_stop(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--volumes", action="store_true", help="also delete the volumes: ALL DATA (needs --yes)"
    )
    parser.add_argument("--yes", action="store_true", help="confirm --volumes")


def run_stop(args: argparse.Namespace) -> int:
    project = cli.project(args)
    if args.volumes:
        cli.confirm_flag(
            args,
            f"--volumes deletes every volume of {project.name}: its database, storage objects and "
            "certificates, for good (take a backup first: python3 scripts/backup.py)",
        )
        project.compose("down", "--volumes", "--remove-orphans")
        print(f"{project.name} is down; its volumes were deleted")
    else:
        project.compose("down", "--remove-orphans")
        print(
            f"{project.name} is down; its data volumes are kept (start again with python3 scripts/start.py)"
        )
    return cli.EXIT_OK


def main_start(argv=None) -> int:
    return cli.main(START_DESCRIPTION, configure_start, run_start, argv)


def main_stop(argv=None) -> int:
    return cli.main(STOP_DESCRIPTION, configure_stop, run_stop, argv)
