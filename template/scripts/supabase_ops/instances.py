"""list_instances.py and switch_instance.py: every instance on this host, and moving between them.

Each instance lives in its own directory; "switching" means finding another instance's
directory and settings, never changing files. The host-wide registry (registry.py) knows
the instances that were started here; Docker's compose labels know what actually runs.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Optional

from . import cli, registry
from .project import OpsError, Project

LIST_DESCRIPTION = """\
List every Supabase instance on this host: the compose projects Docker knows (their
containers, published ports and volumes, from the com.docker.compose.* labels) merged
with the host's instance registry (name, port offset, directory).
"""

SWITCH_DESCRIPTION = """\
Show and edit the host's instance registry, and find an instance's directory:

  switch_instance.py                  the registered instances (* marks this one)
  switch_instance.py NAME             one instance: directory, environment, offset, URLs
  switch_instance.py NAME --path      its directory:  cd "$(python3 scripts/switch_instance.py NAME --path)"
  switch_instance.py NAME --print-env its non-secret settings as KEY=value lines, for
                       `set -a; . <(python3 scripts/switch_instance.py NAME --print-env); set +a`
                                      (then plain `docker compose ...` and every script act on NAME)
  switch_instance.py --register       register this instance (start.py does it automatically)
  switch_instance.py --unregister NAME
"""

# Services every Supabase instance has: how unregistered compose projects are recognised.
CORE_SERVICES = frozenset({"db", "auth", "rest"})


def gather() -> list[dict]:
    """Instances from Docker and the registry, by name."""
    from . import dockerhost

    registered = registry.load()
    by_project: dict[str, list] = {}
    for container in dockerhost.containers():
        by_project.setdefault(container.project, []).append(container)
    volumes: dict[str, list[str]] = {}
    for volume in dockerhost.volumes():
        if volume.project:
            volumes.setdefault(volume.project, []).append(volume.name)
    instances = []
    for name in sorted(set(by_project) | set(registered)):
        containers = by_project.get(name, [])
        entry = registered.get(name, {})
        services = {c.service for c in containers}
        directories = {str(Path(c.working_dir).parent) for c in containers if c.working_dir}
        if not entry and not services >= CORE_SERVICES:
            continue  # another compose project, not a Supabase instance
        running = [c for c in containers if c.state == "running"]
        long_running = [c for c in containers if c.service != "minio-init"]
        directory = entry.get("directory") or (sorted(directories)[0] if directories else "")
        instances.append(
            {
                "name": name,
                "status": (
                    f"running {len(running)}/{len(long_running)}"
                    if running
                    else ("stopped" if containers else "not created")
                ),
                "unhealthy": sorted(c.service for c in containers if c.health == "unhealthy"),
                "environment": entry.get("environment", ""),
                "port_offset": entry.get("port_offset", ""),
                "directory": directory,
                "directory_exists": bool(directory) and (Path(directory) / "docker" / ".env").is_file(),
                "registered": bool(entry),
                "ports": sorted(
                    {f"{p.host_ip or '*'}:{p.host_port}" for c in running for p in c.ports},
                    key=lambda text: int(text.rsplit(":", 1)[1]),
                ),
                "volumes": sorted(volumes.get(name, [])),
                "containers": [
                    {
                        "name": c.name,
                        "service": c.service,
                        "state": c.state,
                        "health": c.health,
                        "ports": [str(p) for p in c.ports],
                    }
                    for c in sorted(containers, key=lambda c: c.service)
                ],
            }
        )
    return instances


def configure_list(parser: argparse.ArgumentParser) -> None:
    cli.add_json_flag(parser)


def run_list(args: argparse.Namespace) -> int:
    instances = gather()
    if args.json:
        cli.print_json({"instances": instances})
        return cli.EXIT_OK
    if not instances:
        print("no Supabase instance on this host (none running, none registered)")
        return cli.EXIT_OK
    rows = []
    for item in instances:
        note = "" if item["directory_exists"] or not item["directory"] else " (missing)"
        rows.append(
            {
                **item,
                "status": item["status"]
                + (f", unhealthy: {','.join(item['unhealthy'])}" if item["unhealthy"] else ""),
                "directory": item["directory"] + note,
                "ports": " ".join(port.rsplit(":", 1)[1] for port in item["ports"]),
                "volumes": len(item["volumes"]),
            }
        )
    columns = [
        ("name", "INSTANCE"),
        ("status", "STATUS"),
        ("environment", "ENV"),
        ("port_offset", "OFFSET"),
        ("ports", "HOST PORTS"),
        ("volumes", "VOLUMES"),
        ("directory", "DIRECTORY"),
    ]
    print(cli.table(rows, columns))
    return cli.EXIT_OK


# ---------------------------------------------------------------------- switch
def instance_dir(name: str) -> Path:
    """The directory of an instance: from the registry, else from its containers' labels."""
    entry = registry.load().get(name)
    if entry and entry.get("directory"):
        return Path(entry["directory"])
    from . import dockerhost

    for container in dockerhost.containers(project=name):
        if container.working_dir:
            return Path(container.working_dir).parent
    known = ", ".join(sorted(registry.load())) or "none registered"
    raise OpsError(
        f"no instance named {name!r} on this host (known: {known}); list them with list_instances.py"
    )


def shell_env(project: Project) -> list[tuple[str, str]]:
    """Settings for a shell working on this instance: names, files, URLs. Never a secret."""
    env = project.env
    pairs = [
        ("SUPABASE_PROJECT_DIR", str(project.root)),
        ("PROJECT_NAME", project.name),
        ("COMPOSE_PROJECT_NAME", project.name),
        ("COMPOSE_FILE", ":".join(str(path) for path in project.compose_files())),
        ("ENVIRONMENT", project.environment),
        ("PORT_OFFSET", env.get("PORT_OFFSET", "")),
        ("API_EXTERNAL_URL", env.get("API_EXTERNAL_URL", "")),
        ("SUPABASE_PUBLIC_URL", env.get("SUPABASE_PUBLIC_URL", "")),
        ("STUDIO_EXTERNAL_URL", env.get("STUDIO_EXTERNAL_URL", "")),
    ]
    if project.environment == "local":
        pairs += [
            (key, env.get(key, "")) for key in ("POSTGRES_HOST_PORT", "KONG_HTTP_PORT", "STUDIO_HOST_PORT")
        ]
    return pairs


def configure_switch(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="an instance name (see list_instances.py)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--path", action="store_true", help="print only the instance's directory")
    output.add_argument(
        "--print-env", action="store_true", help="print its non-secret settings as KEY=value lines"
    )
    output.add_argument("--register", action="store_true", help="register this instance in the host registry")
    output.add_argument("--unregister", action="store_true", help="remove NAME from the host registry")
    cli.add_json_flag(parser)


def _this_instance(args: argparse.Namespace) -> Optional[Project]:
    try:
        return cli.project(args)
    except OpsError:
        return None


def run_switch(args: argparse.Namespace) -> int:
    if args.register:
        project = cli.project(args)
        from .portplan import check_offset

        check_offset(project, project.port_offset())
        entry = registry.register(project.name, project.port_offset(), project.root, project.environment)
        print(f"registered {project.name}: offset {entry['port_offset']}, {entry['directory']}")
        return cli.EXIT_OK
    if args.unregister:
        if not args.name:
            raise OpsError("--unregister needs the instance NAME")
        if not registry.unregister(args.name):
            raise OpsError(f"{args.name!r} is not in the registry ({registry.registry_path()})")
        print(f"unregistered {args.name} (its directory, containers and volumes are untouched)")
        return cli.EXIT_OK
    if not args.name:
        current = _this_instance(args)
        rows = [
            {"mark": "*" if current and current.name == name else "", "name": name, **entry}
            for name, entry in sorted(registry.load().items())
        ]
        if args.json:
            cli.print_json({"registry": str(registry.registry_path()), "instances": rows})
        elif rows:
            print(
                cli.table(
                    rows,
                    [
                        ("mark", ""),
                        ("name", "INSTANCE"),
                        ("environment", "ENV"),
                        ("port_offset", "OFFSET"),
                        ("directory", "DIRECTORY"),
                    ],
                )
            )
        else:
            print(
                f"the registry {registry.registry_path()} is empty: "
                "start.py registers each instance it starts"
            )
        return cli.EXIT_OK
    directory = instance_dir(args.name)
    if args.path:
        print(directory)
        return cli.EXIT_OK
    project = Project(directory)
    pairs = shell_env(project)
    if args.print_env:
        for key, value in pairs:
            print(f"{key}={shlex.quote(value)}")
    elif args.json:
        cli.print_json(dict(pairs))
    else:
        print(f"{project.name} in {project.root}")
        for key, value in pairs[4:]:
            print(f"  {key}={value}")
        print(f'  cd "$(python3 scripts/switch_instance.py {project.name} --path)"')
    return cli.EXIT_OK


def main_list(argv=None) -> int:
    return cli.main(LIST_DESCRIPTION, configure_list, run_list, argv)


def main_switch(argv=None) -> int:
    return cli.main(SWITCH_DESCRIPTION, configure_switch, run_switch, argv)
