"""Reading and writing docker/.env without losing its order, comments or unknown keys.

The syntax is the subset Docker Compose reads: `KEY=value`, `KEY='literal'` (no
interpolation, used for values holding `$`), `KEY="text"` (backslash escapes),
comments and blank lines. Writes are atomic and keep the file at mode 0600.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
# Plain values may not contain these: they would be cut, interpolated or misread by Compose.
_NEEDS_QUOTES = re.compile(r"[\s$'\"#\\`]")


@dataclass
class Line:
    text: str  # the line as written, without its newline
    key: Optional[str] = None
    value: Optional[str] = None


def parse_value(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), raw[1:-1])
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def format_value(value: str) -> str:
    """The value as Compose must read it back: single-quoted when it needs quoting."""
    if "\n" in value:
        raise ValueError("multi-line values are not supported in docker/.env")
    if not _NEEDS_QUOTES.search(value):
        return value
    if "'" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


class EnvFile:
    """An .env file as lines; values are read and changed by key, everything else kept."""

    def __init__(self, lines: list[Line], path: Optional[Path] = None):
        self.lines = lines
        self.path = path

    @classmethod
    def parse(cls, text: str, path: Optional[Path] = None) -> EnvFile:
        lines = []
        for text_line in text.splitlines():
            match = _ASSIGNMENT.match(text_line.strip())
            if match and not text_line.lstrip().startswith("#"):
                lines.append(Line(text_line, match.group(1), parse_value(match.group(2))))
            else:
                lines.append(Line(text_line))
        return cls(lines, path)

    @classmethod
    def load(cls, path: Path) -> EnvFile:
        return cls.parse(Path(path).read_text(encoding="utf-8"), Path(path))

    def keys(self) -> list[str]:
        return [line.key for line in self.lines if line.key]

    def values(self) -> dict[str, str]:
        """Every key with its value; a key assigned twice keeps its last value, as in Compose."""
        return {line.key: line.value or "" for line in self.lines if line.key}

    def get(self, key: str, default: str = "") -> str:
        return self.values().get(key, default)

    def __contains__(self, key: str) -> bool:
        return any(line.key == key for line in self.lines)

    def set(self, key: str, value: str) -> None:
        """Change a key in place (all its assignments), or append it at the end."""
        text = f"{key}={format_value(value)}"
        found = False
        for line in self.lines:
            if line.key == key:
                line.text, line.value, found = text, value, True
        if not found:
            self.lines.append(Line(text, key, value))

    def position_after(self, key: Optional[str]) -> int:
        """The index just after `key`'s last assignment, or the end of the file."""
        positions = [index for index, line in enumerate(self.lines) if key and line.key == key]
        return positions[-1] + 1 if positions else len(self.lines)

    def insert(self, at: int, lines: list[Line]) -> None:
        self.lines[at:at] = [Line(line.text, line.key, line.value) for line in lines]

    def rename(self, old: str, new: str) -> bool:
        changed = False
        for line in self.lines:
            if line.key == old:
                line.key = new
                line.text = f"{new}={format_value(line.value or '')}"
                changed = True
        return changed

    def render(self) -> str:
        return "".join(line.text + "\n" for line in self.lines)

    def write(self, path: Optional[Path] = None) -> Path:
        """Atomically replace the file with this content, mode 0600 from the first byte."""
        target = Path(path or self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.render())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.path = target
        return target


def keep_copy(path: Path) -> Path:
    """A timestamped 0600 copy of an .env file, next to it, before it is changed."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    copy = path.with_name(f"{path.name}.previous-{stamp}")
    counter = 1
    while copy.exists():
        copy = path.with_name(f"{path.name}.previous-{stamp}-{counter}")
        counter += 1
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle, open(path, "rb") as source:
        shutil.copyfileobj(source, handle)
    return copy
