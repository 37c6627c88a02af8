"""Backup sets on disk: <BACKUP_ROOT>/<PROJECT_NAME>/<UTC timestamp>/ with a manifest.json.

A set is written into a hidden `.<timestamp>.partial` directory and renamed into place
only after its manifest (the last file) is on disk, so a failed or killed backup never
leaves anything that looks complete. Directories are 0700 and files 0600: a set holds
the database, its roles' password hashes and docker/.env.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Optional

from .project import OpsError

MANIFEST = "manifest.json"
FORMAT = 1
STAMP = "%Y%m%dT%H%M%SZ"
_SET_NAME = re.compile(r"^\d{8}T\d{6}Z$")
_PARTIAL = re.compile(r"^\.(\d{8}T\d{6}Z)\.partial$")


def set_name(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime(STAMP)


def parse_name(name: str) -> dt.datetime:
    return dt.datetime.strptime(name, STAMP).replace(tzinfo=dt.timezone.utc)


@dataclass
class BackupSet:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def created(self) -> dt.datetime:
        return parse_name(self.name)

    @property
    def manifest(self) -> dict:
        return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))

    def parts(self, kind: Optional[str] = None, group: Optional[str] = None) -> list[dict]:
        return [
            part
            for part in self.manifest["parts"]
            if (kind is None or part["kind"] == kind) and (group is None or part.get("group") == group)
        ]

    def file(self, part: dict) -> Path:
        return self.path / part["file"]

    def total_bytes(self) -> int:
        return sum(part["bytes"] for part in self.manifest["parts"])


def list_sets(root: Path) -> list[BackupSet]:
    """Complete sets (named by timestamp, with a manifest), oldest first."""
    if not root.is_dir():
        return []
    found = [
        BackupSet(path)
        for path in root.iterdir()
        if _SET_NAME.match(path.name) and (path / MANIFEST).is_file() and path.is_dir()
    ]
    return sorted(found, key=lambda backup_set: backup_set.name)


def find_set(root: Path, name: str) -> BackupSet:
    """A set by timestamp, 'latest', or path."""
    sets = list_sets(root)
    if name == "latest":
        if not sets:
            raise OpsError(
                f"there is no complete backup set in {root}: run `python3 scripts/backup.py` first"
            )
        return sets[-1]
    candidate = Path(name).expanduser()
    if candidate.is_dir() and (candidate / MANIFEST).is_file():
        return BackupSet(candidate.resolve())
    for backup_set in sets:
        if backup_set.name == name:
            return backup_set
    known = ", ".join(s.name for s in sets[-5:]) or "none"
    raise OpsError(
        f"no backup set {name!r} in {root} (newest: {known}); list them with `python3 scripts/restore.py`"
    )


def verify(backup_set: BackupSet) -> list[str]:
    """Problems with a set: missing files, wrong sizes or SHA-256 sums. Empty when intact."""
    try:
        parts = backup_set.manifest["parts"]
    except (OSError, ValueError, KeyError) as error:
        return [f"{backup_set.path / MANIFEST} is unreadable: {error}"]
    problems = []
    for part in parts:
        path = backup_set.file(part)
        if not path.is_file():
            problems.append(f"{part['file']} is missing")
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        if path.stat().st_size != part["bytes"] or digest.hexdigest() != part["sha256"]:
            problems.append(
                f"{part['file']} does not match its checksum in the manifest (corrupted or changed)"
            )
    return problems


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def lock(root: Path) -> Iterator[None]:
    """One backup or restore per instance at a time (an flock, released if the process dies)."""
    import fcntl

    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    root.chmod(0o700)
    with open(root / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise OpsError(
                f"another backup or restore of this instance is running (it holds {root / '.lock'}); "
                "wait for it to finish"
            ) from None
        yield


class SetWriter:
    """Writes one set atomically; use as a context manager around the whole backup."""

    def __init__(self, root: Path, now: Optional[dt.datetime] = None, take_lock: bool = True):
        """take_lock=False when the caller already holds lock(root) (restore's safety backup)."""
        self.root = Path(root)
        self.take_lock = take_lock
        self.now = now or dt.datetime.now(dt.timezone.utc)
        self.parts: list[dict] = []
        self.partial: Optional[Path] = None
        self.name = ""
        self._lock = None

    def __enter__(self) -> SetWriter:
        if self.take_lock:
            self._lock = lock(self.root)
            self._lock.__enter__()
        else:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            self._remove_stale_partials()
            moment = self.now
            while (self.root / set_name(moment)).exists():  # one set per second: take the next free name
                moment += dt.timedelta(seconds=1)
            self.name = set_name(moment)
            self.partial = self.root / f".{self.name}.partial"
            self.partial.mkdir(mode=0o700)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _remove_stale_partials(self) -> None:
        """Leftovers of killed backups: safe to remove, since we hold the lock."""
        for path in self.root.iterdir():
            if _PARTIAL.match(path.name):
                shutil.rmtree(path, ignore_errors=True)

    @contextlib.contextmanager
    def open(self, filename: str) -> Iterator[BinaryIO]:
        """A new file in the set, mode 0600 from the start; flushed to disk on close."""
        fd = os.open(self.partial / filename, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())

    def add(self, filename: str, kind: str, size: int, sha256: str, **details) -> dict:
        part = {"file": filename, "kind": kind, "bytes": size, "sha256": sha256, **details}
        self.parts.append(part)
        return part

    def path(self, filename: str) -> Path:
        return self.partial / filename

    def finish(self, metadata: dict) -> BackupSet:
        """Write the manifest, then move the set into place: from here on it is complete."""
        manifest = {
            "format": FORMAT,
            "created": self.now.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
            **metadata,
            "parts": self.parts,
        }
        with self.open(MANIFEST) as handle:
            handle.write(json.dumps(manifest, indent=2).encode() + b"\n")
        _fsync_dir(self.partial)
        final = self.root / self.name
        os.rename(self.partial, final)
        _fsync_dir(self.root)
        self.partial = None
        return BackupSet(final)

    def __exit__(self, *exc_info) -> None:
        try:
            if self.partial is not None:  # failed or interrupted: leave nothing behind
                shutil.rmtree(self.partial, ignore_errors=True)
        finally:
            if self._lock:
                self._lock.__exit__(None, None, None)
