"""Copier task: writes docker/.env from docker/.env.example, generating the missing secrets.

Runs in the project directory after every `copier copy` and `copier update`, with Copier's own
Python. Idempotent: a value already in docker/.env is never changed, keys the user added stay,
keys a newer template added are inserted with fresh secrets (derived ones from the existing base
values). Prints key names only, never a value. The logic is the generated project's own
supabase_ops.secrets (scripts/generate_secrets.py runs the same code).
"""

from __future__ import annotations

import sys
from pathlib import Path

# The template's copy of the project's helpers: the hook and the project can never disagree.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "template" / "scripts"))

from supabase_ops.project import OpsError
from supabase_ops.secrets import MissingDependency, describe, sync_env_file

INSTALL_HINT = (
    "Install it next to Copier, then run Copier again:\n"
    "    uv tool install --force copier --with copier-template-extensions --with cryptography --with bcrypt\n"
    "or: pipx inject copier copier-template-extensions cryptography bcrypt"
)


def is_scratch_copy(directory: Path) -> bool:
    """`copier update` also renders the old and new template into temporary directories and
    runs this task there; their docker/.env is thrown away, so nothing is worth saying."""
    return any(marker in directory.name for marker in (".old_copy.", ".new_copy."))


def main() -> int:
    project = Path.cwd()
    try:
        report = sync_env_file(project / "docker")
    except MissingDependency as error:
        print(f"error: {error}.\n{INSTALL_HINT}", file=sys.stderr)
        return 1
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not is_scratch_copy(project):
        for line in describe(report):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
