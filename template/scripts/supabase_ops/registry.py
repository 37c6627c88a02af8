"""The host-wide instance registry: which instance uses which name, offset and directory.

A JSON file shared by every instance on the host (``SUPABASE_INSTANCES_REGISTRY``
overrides its location). ``copier copy`` reads it to suggest the next free port offset;
start.py registers its instance; switch_instance.py shows and edits it. Each entry:
``{"port_offset": int, "directory": str, "environment": str}``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

OFFSET_STEP = 100


def registry_path() -> Path:
    override = os.environ.get("SUPABASE_INSTANCES_REGISTRY")
    if override:
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "supabase-instances" / "registry.json"


def load(path: Path | None = None) -> dict[str, dict]:
    """Instances by project name; an unreadable registry reads as empty."""
    path = path or registry_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    instances = data.get("instances", {}) if isinstance(data, dict) else {}
    return {name: entry for name, entry in instances.items() if isinstance(entry, dict)}


def save(instances: dict[str, dict], path: Path | None = None) -> None:
    path = path or registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"instances": dict(sorted(instances.items()))}, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".registry-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(payload)
    os.replace(tmp, path)


def _used_offsets(instances: dict[str, dict], exclude: str) -> dict[str, int]:
    return {
        name: entry["port_offset"]
        for name, entry in instances.items()
        if name != exclude and isinstance(entry.get("port_offset"), int)
    }


def next_free_offset(instances: dict[str, dict] | None = None, exclude: str = "") -> int:
    """The smallest multiple of OFFSET_STEP whose ports clash with no other registered instance."""
    from .ports import MAX_OFFSET, offsets_collide

    used = _used_offsets(load() if instances is None else instances, exclude).values()
    offset = 0
    while any(offsets_collide(offset, other) for other in used):
        offset += OFFSET_STEP
        if offset > MAX_OFFSET:
            raise ValueError("no free port offset is left on this host: unregister unused instances")
    return offset


@contextlib.contextmanager
def editing(path: Path | None = None) -> Iterator[dict[str, dict]]:
    """Load, let the caller change, and save the registry, one writer at a time."""
    import fcntl

    path = path or registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        instances = load(path)
        yield instances
        save(instances, path)


def register(
    name: str, port_offset: int, directory: Path, environment: str, path: Path | None = None
) -> dict:
    entry = {
        "port_offset": port_offset,
        "directory": str(Path(directory).resolve()),
        "environment": environment,
    }
    with editing(path) as instances:
        instances[name] = entry
    return entry


def unregister(name: str, path: Path | None = None) -> bool:
    with editing(path) as instances:
        return instances.pop(name, None) is not None


def offset_owner(offset: int, exclude: str, instances: dict[str, dict] | None = None) -> str:
    """The other registered instance whose ports this offset would clash with, or ''."""
    from .ports import offsets_collide

    used = _used_offsets(load() if instances is None else instances, exclude)
    for name, other in sorted(used.items()):
        if offsets_collide(offset, other):
            return name
    return ""
