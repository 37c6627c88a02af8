"""What every entry point in scripts/ shares: arguments, output as a table or JSON, and errors.

A command is a `configure(parser)` function and a `run(args) -> exit code` function.
`main` turns an OpsError (a refusal or failure the user can act on) into one clean
line on stderr and exit code 1; argparse exits 2 on bad usage. Commands import their
heavy modules inside `run`, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .project import Project

# scripts/supabase_ops/cli.py -> the instance directory that holds scripts/
DEFAULT_ROOT = Path(__file__).resolve().parents[2]

EXIT_OK, EXIT_FAILED = 0, 1


def main(
    description: str,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: Optional[Sequence[str]] = None,
    epilog: str = "",
) -> int:
    parser = argparse.ArgumentParser(
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--project-dir",
        type=Path,
        default=Path(os.environ.get("SUPABASE_PROJECT_DIR") or DEFAULT_ROOT),
        help="the instance directory (default: the one holding this script)",
    )
    configure(parser)
    args = parser.parse_args(argv)  # --help and usage errors exit here, before any other import
    from .project import OpsError

    try:
        return int(run(args) or EXIT_OK)
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")


def project(args: argparse.Namespace) -> Project:
    from .project import Project

    return Project(args.project_dir)


def print_json(data: object) -> None:
    import json

    print(json.dumps(data, indent=2, sort_keys=False, default=str))


def table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """Rows as aligned text columns: `columns` lists (key, header) pairs."""
    cells = [[header for _, header in columns]]
    cells += [["" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def human_bytes(count: Optional[float]) -> str:
    if count is None:
        return ""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""  # unreachable


def confirm_flag(args: argparse.Namespace, what: str, flag: str = "--yes") -> None:
    """Destructive steps run only with an explicit flag; say what would happen otherwise."""
    from .project import OpsError

    if not getattr(args, flag.lstrip("-").replace("-", "_"), False):
        raise OpsError(f"{what}; nothing was changed. Run again with {flag} to go ahead")


def status(message: str) -> None:
    """Progress for humans, on stderr, so stdout stays clean for tables and JSON."""
    print(message, file=sys.stderr, flush=True)
