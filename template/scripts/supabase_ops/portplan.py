"""calculate_ports.py: the host ports of this instance for a PORT_OFFSET, and writing them to .env."""

from __future__ import annotations

import argparse
from typing import Optional

from . import cli, ports, registry
from .project import OpsError, Project

DESCRIPTION = """\
Show the host port of every published service for this instance's PORT_OFFSET (or
--offset N), and with --write put that offset and its ports into docker/.env.

Ports come from scripts/supabase_ops/ports.py, the single source of the port table.
Offsets that overflow 65535 or that another registered instance uses are refused.
After --write, restart the instance: python3 scripts/stop.py && python3 scripts/start.py
"""

# Local URLs that embed a port: kept in step when they still hold the derived value.
DERIVED_URLS = {
    "API_EXTERNAL_URL": "KONG_HTTP_PORT",
    "SUPABASE_PUBLIC_URL": "KONG_HTTP_PORT",
    "STUDIO_EXTERNAL_URL": "STUDIO_HOST_PORT",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--offset", type=int, help="port offset to compute (default: PORT_OFFSET in docker/.env)"
    )
    parser.add_argument(
        "--write", action="store_true", help="write the offset and its ports into docker/.env"
    )
    cli.add_json_flag(parser)


def check_offset(project: Project, offset: int) -> None:
    error = ports.offset_error(offset)
    if error:
        raise OpsError(error)
    owner = registry.offset_owner(offset, exclude=project.name)
    if owner:
        free = registry.next_free_offset(exclude=project.name)
        raise OpsError(
            f"port offset {offset} is already used by instance {owner!r} (see "
            f"`python3 scripts/switch_instance.py`); offsets must be unique per host: try --offset {free}"
        )


def port_rows(project: Project, offset: int) -> list[dict]:
    enabled = project.enabled_parts()
    env = project.env
    publishes_locally = project.environment == "local"
    rows = []
    for port in ports.PORT_TABLE:
        in_use = not port.needs or port.needs in enabled
        rows.append(
            {
                "variable": port.variable,
                "service": port.service,
                "host_port": port.host_port(offset),
                "container_port": f"{port.container_port}/{port.protocol}",
                "published": "127.0.0.1" if publishes_locally and in_use else "no",
                "in_env": env.get(port.variable, ""),
            }
        )
    return rows


def write_offset(project: Project, offset: int) -> list[str]:
    """Put the offset and its ports into docker/.env; returns the keys that changed."""
    env_file = project.env_file()
    old = env_file.values()
    new_ports = ports.port_map(offset)
    changes = {"PORT_OFFSET": str(offset), **{key: str(value) for key, value in new_ports.items()}}
    for url_key, port_key in DERIVED_URLS.items():
        derived_before = f"http://localhost:{old.get(port_key, '')}"
        if old.get(url_key) == derived_before:
            changes[url_key] = f"http://localhost:{new_ports[port_key]}"
    changed = [key for key, value in changes.items() if old.get(key) != value]
    for key in changed:
        env_file.set(key, changes[key])
    if changed:
        env_file.write()
    entry = registry.load().get(project.name)
    if entry is not None:
        registry.register(project.name, offset, project.root, project.environment)
    return changed


def run(args: argparse.Namespace) -> int:
    project = cli.project(args)
    offset: Optional[int] = project.port_offset() if args.offset is None else args.offset
    check_offset(project, offset)
    rows = port_rows(project, offset)
    changed = write_offset(project, offset) if args.write else []
    if args.json:
        cli.print_json({"project": project.name, "port_offset": offset, "ports": rows, "written": changed})
        return cli.EXIT_OK
    print(f"Instance {project.name}, PORT_OFFSET={offset} ({project.environment} environment)")
    print(
        cli.table(
            rows,
            [
                ("variable", "VARIABLE"),
                ("service", "SERVICE"),
                ("host_port", "HOST PORT"),
                ("container_port", "CONTAINER"),
                ("published", "PUBLISHED ON"),
                ("in_env", "IN docker/.env"),
            ],
        )
    )
    if project.environment == "production":
        print("production publishes only Caddy on 80/443 (tcp) and 443 (udp), never offset")
    if args.write:
        if changed:
            print(f"docker/.env updated ({', '.join(changed)}); restart to apply:")
            print("  python3 scripts/stop.py && python3 scripts/start.py")
        else:
            print("docker/.env already holds these ports; nothing changed")
    elif any(str(row["host_port"]) != row["in_env"] for row in rows):
        print("docker/.env holds other values: run again with --write to apply this offset")
    return cli.EXIT_OK


def main(argv=None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv)
