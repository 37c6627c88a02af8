"""The port table: which host port each published service gets for a PORT_OFFSET.

This module is the single source of truth for published ports. The Copier template
reads it to render docker/.env.example; calculate_ports.py and validate_instance.py
use it at run time. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PORT = 65535


@dataclass(frozen=True)
class PublishedPort:
    variable: str  # the .env variable holding the host port
    service: str  # the compose service publishing it
    base: int  # host port at PORT_OFFSET=0
    container_port: int
    protocol: str = "tcp"
    environments: tuple[str, ...] = ("local",)
    needs: str = ""  # the optional part that must be enabled, if any

    def host_port(self, offset: int) -> int:
        return self.base + offset


# Production publishes only Caddy, on the standard ports, never offset (ACME needs 80/443).
PORT_TABLE: tuple[PublishedPort, ...] = (
    PublishedPort("POSTGRES_HOST_PORT", "db", 5432, 5432),
    PublishedPort("POOLER_TRANSACTION_HOST_PORT", "supavisor", 6543, 6543),
    PublishedPort("KONG_HTTP_PORT", "kong", 8000, 8000),
    PublishedPort("KONG_HTTPS_PORT", "kong", 8443, 8443),
    PublishedPort("STUDIO_HOST_PORT", "studio", 3000, 3000),
    PublishedPort("MINIO_API_HOST_PORT", "minio", 9000, 9000, needs="minio"),
    PublishedPort("MINIO_CONSOLE_HOST_PORT", "minio", 9001, 9001, needs="minio"),
    PublishedPort("REDIS_HOST_PORT", "redis", 6379, 6379, needs="redis"),
    PublishedPort("CADDY_HTTP_PORT", "caddy", 8080, 80),
    PublishedPort("CADDY_HTTPS_PORT", "caddy", 8444, 443),
)

PRODUCTION_PORTS: tuple[tuple[int, str], ...] = ((80, "tcp"), (443, "tcp"), (443, "udp"))

MAX_OFFSET = MAX_PORT - max(p.base for p in PORT_TABLE)


def offset_error(offset: object) -> str:
    """Why an offset is unusable, or '' when it is fine."""
    if isinstance(offset, bool) or not isinstance(offset, int):
        return f"port_offset must be a whole number, got {offset!r}"
    if offset < 0:
        return f"port_offset must not be negative, got {offset}"
    if offset > MAX_OFFSET:
        worst = max(PORT_TABLE, key=lambda p: p.base)
        return (
            f"port_offset {offset} would put {worst.variable} at {worst.host_port(offset)}, "
            f"above {MAX_PORT}; use at most {MAX_OFFSET} (multiples of 100 are recommended)"
        )
    return ""


def port_map(offset: int) -> dict[str, int]:
    """Every port variable with its host port for this offset, in table order."""
    error = offset_error(offset)
    if error:
        raise ValueError(error)
    return {p.variable: p.host_port(offset) for p in PORT_TABLE}


def host_ports(offset: int) -> set[int]:
    """Every host port an instance at this offset may publish locally."""
    return set(port_map(offset).values())


def offsets_collide(first: int, second: int) -> bool:
    """True when two instances at these offsets would want a common host port.

    Equal offsets always collide, and so do some distinct ones: at offset 1000 Kong's
    8000 lands on 9000, MinIO's port at offset 0.
    """
    return bool(host_ports(first) & host_ports(second))


def published(
    offset: int, enabled: set[str] | frozenset[str] = frozenset({"minio", "redis"})
) -> list[PublishedPort]:
    """The ports an instance with these optional parts publishes locally."""
    port_map(offset)  # validates
    return [p for p in PORT_TABLE if not p.needs or p.needs in enabled]
