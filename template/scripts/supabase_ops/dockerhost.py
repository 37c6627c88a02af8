"""What Docker knows about this host: compose containers and volumes, read from their labels.

Compose labels every container and volume it creates with the project name
(com.docker.compose.project) and each container with its service and project directory;
that is how instances are told apart without any state of our own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from .project import OpsError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
VOLUME_LABEL = "com.docker.compose.volume"


def docker(*args: str, input: Optional[bytes] = None, check: bool = True) -> subprocess.CompletedProcess:
    if not shutil.which("docker"):
        raise OpsError(
            "docker is not installed or not on PATH: install Docker Engine with the Compose plugin"
        )
    done = subprocess.run(["docker", *args], input=input, capture_output=True, check=False)
    if check and done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip()
        if "Cannot connect to the Docker daemon" in detail or "permission denied" in detail.lower():
            raise OpsError(
                f"cannot talk to the Docker engine ({detail}); start it (`systemctl start docker`) "
                "or run as a user in the docker group"
            )
        raise OpsError(f"`docker {' '.join(args[:3])}` failed: {detail}")
    return done


def parse_json_stream(text: str) -> list[dict]:
    """JSON that is an array, one object, or one object per line (as docker --format prints)."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return data if isinstance(data, list) else [data]


@dataclass
class PublishedPort:
    host_ip: str
    host_port: int
    target: str  # "5432/tcp"

    def __str__(self) -> str:
        return f"{self.host_ip or '0.0.0.0'}:{self.host_port}->{self.target}"  # noqa: S104 - display only


@dataclass
class Container:
    id: str
    name: str
    project: str
    service: str
    working_dir: str
    state: str  # running, exited, ...
    health: str  # healthy, unhealthy, starting, or '' without a healthcheck
    image: str  # the reference it was created from
    image_id: str
    ports: list[PublishedPort] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)  # its IPs on its networks
    volumes: list[str] = field(default_factory=list)

    @classmethod
    def from_inspect(cls, data: dict) -> Container:
        labels = data.get("Config", {}).get("Labels") or {}
        state = data.get("State") or {}
        network = data.get("NetworkSettings") or {}
        ports = []
        for target, bindings in sorted((network.get("Ports") or {}).items()):
            for binding in bindings or []:
                ports.append(PublishedPort(binding.get("HostIp", ""), int(binding["HostPort"]), target))
        return cls(
            id=data["Id"],
            name=data.get("Name", "").lstrip("/"),
            project=labels.get(PROJECT_LABEL, ""),
            service=labels.get(SERVICE_LABEL, ""),
            working_dir=labels.get(WORKING_DIR_LABEL, ""),
            state=state.get("Status", ""),
            health=(state.get("Health") or {}).get("Status", ""),
            image=data.get("Config", {}).get("Image", ""),
            image_id=data.get("Image", ""),
            ports=ports,
            addresses=[
                n["IPAddress"] for n in (network.get("Networks") or {}).values() if n.get("IPAddress")
            ],
            volumes=[m["Name"] for m in data.get("Mounts") or [] if m.get("Type") == "volume"],
        )


def inspect(kind: str, ids: list[str]) -> list[dict]:
    if not ids:
        return []
    return parse_json_stream(docker(kind, "inspect", *ids).stdout.decode())


def containers(project: Optional[str] = None, name: Optional[str] = None) -> list[Container]:
    """Compose containers (running or not), of one project or of every project."""
    filters = ["--filter", f"label={PROJECT_LABEL}" + (f"={project}" if project else "")]
    if name:
        filters += ["--filter", f"name=^/?{name}$"]
    ids = docker("ps", "-aq", "--no-trunc", *filters).stdout.decode().split()
    return [Container.from_inspect(item) for item in inspect("container", ids)]


def container_named(name: str) -> Optional[Container]:
    """The container with exactly this name, compose-made or not."""
    ids = docker("ps", "-aq", "--no-trunc", "--filter", f"name=^/?{name}$").stdout.decode().split()
    found = [Container.from_inspect(item) for item in inspect("container", ids)]
    return found[0] if found else None


@dataclass
class Volume:
    name: str
    project: str  # '' when Compose did not create it
    key: str  # its name in the compose file


def volumes(project: Optional[str] = None) -> list[Volume]:
    filters = ["--filter", f"label={PROJECT_LABEL}={project}"] if project else []
    names = docker("volume", "ls", "-q", *filters).stdout.decode().split()
    found = []
    for item in inspect("volume", names):
        labels = item.get("Labels") or {}
        found.append(Volume(item["Name"], labels.get(PROJECT_LABEL, ""), labels.get(VOLUME_LABEL, "")))
    return found


def volume_named(name: str) -> Optional[Volume]:
    done = docker("volume", "inspect", name, check=False)
    if done.returncode != 0:
        return None
    item = parse_json_stream(done.stdout.decode())[0]
    labels = item.get("Labels") or {}
    return Volume(item["Name"], labels.get(PROJECT_LABEL, ""), labels.get(VOLUME_LABEL, ""))
