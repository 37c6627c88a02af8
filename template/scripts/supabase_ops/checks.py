"""validate_instance.py: can this instance start here without clashing with anything?

Checks docker/.env (complete, secrets usable), container names, volumes and host ports
(really binding each port the way this environment publishes it). Containers, volumes
and ports that belong to this very instance are never conflicts.
"""

from __future__ import annotations

import argparse
import errno
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import cli, ports, registry, rules
from .envfile import EnvFile
from .project import OpsError, Project

DESCRIPTION = """\
Check that this instance can start on this host: docker/.env has every key of
docker/.env.example and usable secrets, no other container or volume uses its names,
and every host port it publishes is free (tested by binding it). Exits 1 when
anything conflicts; --force reports the same and exits 0.
"""


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - production publishes Caddy on every interface


@dataclass
class Finding:
    check: str  # env, containers, volumes, ports, registry
    message: str  # what is wrong and what to do


@dataclass
class Report:
    problems: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def problem(self, check: str, message: str) -> None:
        self.problems.append(Finding(check, message))

    def warn(self, check: str, message: str) -> None:
        self.warnings.append(Finding(check, message))


# ---------------------------------------------------------------------- docker/.env
def check_env(project: Project, report: Report) -> None:
    report.checked.append("env")
    values = project.env_file().values()
    example_path = project.docker_dir / ".env.example"
    example_keys = EnvFile.load(example_path).keys() if example_path.is_file() else list(values)
    missing = [key for key in example_keys if key not in values]
    if missing:
        report.problem(
            "env",
            f"docker/.env lacks {', '.join(missing)} (present in docker/.env.example): run "
            "`python3 scripts/generate_secrets.py` to add them",
        )
    name_error = rules.project_name_error(values.get("PROJECT_NAME", ""))
    if name_error:
        report.problem("env", f"PROJECT_NAME in docker/.env: {name_error}")
    try:
        offset = project.port_offset()
    except OpsError as error:
        report.problem("env", str(error))
        offset = None
    if offset is not None:
        error = ports.offset_error(offset)
        if error:
            report.problem("env", f"PORT_OFFSET in docker/.env: {error}")
        else:
            drift = [
                f"{key}={values.get(key)} (expected {port})"
                for key, port in ports.port_map(offset).items()
                if values.get(key) != str(port)
            ]
            if drift:
                report.warn(
                    "env",
                    f"ports differ from PORT_OFFSET={offset}: {', '.join(drift)}; "
                    "`python3 scripts/calculate_ports.py --write` puts them back in step",
                )
    from . import secrets

    result = secrets.check_env(values, example_keys, production=project.environment == "production")
    for message in result.problems:
        report.problem("env", f"docker/.env: {message}")
    for message in result.warnings:
        report.warn("env", message)


# ---------------------------------------------------------------------- docker objects
def check_docker_names(project: Project, report: Report) -> None:
    from . import dockerhost

    try:  # compose refuses to read the stack while docker/.env lacks a required value
        services = project.services()
        keys = project.compose("config", "--volumes", capture=True).stdout.decode().split()
    except OpsError as error:
        report.warn("containers", f"container and volume names not checked: {error}")
        return
    report.checked += ["containers", "volumes"]
    for service in services:
        name = project.container_name(service)
        found = dockerhost.container_named(name)
        if found is None:
            continue
        ours = (
            found.project == project.name and Path(found.working_dir or "/").resolve() == project.docker_dir
        )
        if not ours:
            owner = (
                f"project {found.project!r} in {found.working_dir}" if found.project else "no compose project"
            )
            report.problem(
                "containers",
                f"container {name} already exists ({owner}): remove it (`docker rm -f {name}`) "
                "or give this instance another PROJECT_NAME",
            )
    for key in keys:
        volume = dockerhost.volume_named(project.volume_name(key))
        if volume and volume.project != project.name:
            report.problem(
                "volumes",
                f"volume {volume.name} exists but was not created by compose for {project.name}: "
                "rename this instance or remove the volume after checking what it holds",
            )
    entry = registry.load().get(project.name)
    other_dir = Path(entry.get("directory", "")) if entry else None
    if other_dir and other_dir.resolve() != project.root and (other_dir / "docker" / ".env").is_file():
        report.problem(
            "registry",
            f"instance name {project.name!r} is registered for {other_dir}: both directories would "
            "share its containers and volumes; rename one of them (PROJECT_NAME)",
        )


# ---------------------------------------------------------------------- host ports
def planned_bindings(project: Project) -> list[tuple[str, int, str, str]]:
    """(host address, port, protocol, what) for every port this environment publishes."""
    if project.environment == "production":
        return [(ALL_INTERFACES, port, protocol, "caddy") for port, protocol in ports.PRODUCTION_PORTS]
    values = project.env
    bindings = []
    for port in ports.published(0, project.enabled_parts()):
        raw = values.get(port.variable, "")
        if raw.isdigit():
            bindings.append(("127.0.0.1", int(raw), port.protocol, f"{port.variable} ({port.service})"))
    return bindings


def port_free(address: str, port: int, protocol: str) -> tuple[bool, str]:
    """Try to bind the port as Docker would; (free, reason)."""
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if protocol == "tcp":  # ignore TIME_WAIT leftovers; a listener still conflicts
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False, "in use"
            if error.errno == errno.EACCES:
                return True, "not tested (binding it needs root; Docker binds it as root)"
            return False, error.strerror or str(error)
    return True, ""


def check_ports(project: Project, report: Report, own: set[tuple[int, str]]) -> None:
    """`own`: (port, protocol) this instance's running containers publish already."""
    report.checked.append("ports")
    seen: dict[tuple[int, str], str] = {}
    for address, port, protocol, what in planned_bindings(project):
        if (port, protocol) in seen:
            report.problem("ports", f"{what} and {seen[(port, protocol)]} both use {port}/{protocol}")
            continue
        seen[(port, protocol)] = what
        if (port, protocol) in own:
            continue
        free, reason = port_free(address, port, protocol)
        if not free:
            report.problem(
                "ports",
                f"{address}:{port}/{protocol} for {what} is {reason}: stop what holds it "
                f"(`ss -ltnup 'sport = :{port}'` shows it) or choose another PORT_OFFSET with "
                "`python3 scripts/calculate_ports.py --offset N --write`",
            )
        elif reason:
            report.warn("ports", f"{address}:{port}/{protocol} for {what}: {reason}")
    try:
        offset = project.port_offset()
    except OpsError:
        return
    owner = registry.offset_owner(offset, exclude=project.name) if project.environment == "local" else ""
    if owner:
        report.warn(
            "registry",
            f"instance {owner!r} is registered with the same PORT_OFFSET={offset}: "
            "the two cannot run at the same time",
        )


def own_published(project: Project) -> set[tuple[int, str]]:
    published = set()
    for container in project.containers():
        if container.state == "running":
            for port in container.ports:
                published.add((port.host_port, port.target.rsplit("/", 1)[-1]))
    return published


def validate(project: Project) -> Report:
    report = Report()
    check_env(project, report)
    check_docker_names(project, report)
    check_ports(project, report, own_published(project))
    return report


def enforce(report: Report, force: bool = False) -> None:
    """Print the findings; refuse to go on when there are problems, unless forced."""
    for finding in report.warnings:
        cli.status(f"warning: [{finding.check}] {finding.message}")
    for finding in report.problems:
        cli.status(f"{'ignored (--force)' if force else 'conflict'}: [{finding.check}] {finding.message}")
    if report.problems and not force:
        raise OpsError(
            f"{len(report.problems)} conflict(s) found (listed above); "
            "fix them, or pass --force to go on anyway"
        )


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="report conflicts but exit 0")
    cli.add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    project = cli.project(args)
    report = validate(project)
    if args.json:
        cli.print_json(
            {
                "project": project.name,
                "ok": not report.problems,
                "checked": report.checked,
                "problems": [asdict(f) for f in report.problems],
                "warnings": [asdict(f) for f in report.warnings],
            }
        )
    else:
        rows = [{"check": f.check, "status": "CONFLICT", "detail": f.message} for f in report.problems]
        rows += [{"check": f.check, "status": "warning", "detail": f.message} for f in report.warnings]
        if rows:
            print(cli.table(rows, [("check", "CHECK"), ("status", "STATUS"), ("detail", "DETAIL")]))
        failed = {f.check for f in report.problems}
        passed = [check for check in report.checked if check not in failed]
        print(
            f"instance {project.name}: {', '.join(passed) or 'nothing'} ok"
            + (f"; {len(report.problems)} conflict(s)" if report.problems else "")
        )
    if report.problems and not args.force:
        return cli.EXIT_FAILED
    return cli.EXIT_OK


def main(argv=None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv)
