"""Copier migration, run by `copier update` before the merge: renames keys inside docker/.env.

docker/.env is gitignored, so Copier's 3-way merge never sees it. When a template version
renames a variable, .env.example follows through the merge, but docker/.env would keep the
old name and the hook would then generate a fresh value under the new one: for a secret,
a new password the running database has never heard of. This renames the key first, so its
value moves with it.

Copier passes the versions as VERSION_PEP440_FROM / VERSION_PEP440_TO (set for every
migration). A rename applies when FROM < version <= TO.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from packaging.version import InvalidVersion, Version  # a dependency of Copier itself

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "template" / "scripts"))

from supabase_ops.envfile import EnvFile, keep_copy

# (first template version with the new name, old name, new name), oldest first.
# No release of this template has renamed a variable yet: the list is empty, and the update
# tests add an entry to a throwaway copy to prove the mechanism. A future rename is one line:
#     ("2.0.0", "OLD_NAME", "NEW_NAME"),
RENAMES: list[tuple[str, str, str]] = []


def _version(variable: str):
    try:
        return Version(os.environ.get(variable, ""))
    except InvalidVersion:
        return None


def main() -> int:
    env_path = Path.cwd() / "docker" / ".env"
    old, new = _version("VERSION_PEP440_FROM"), _version("VERSION_PEP440_TO")
    if not env_path.is_file() or old is None or new is None:
        return 0
    env = EnvFile.load(env_path)
    done = []
    for version, old_name, new_name in RENAMES:
        if not old < Version(version) <= new or old_name not in env:
            continue
        if new_name in env:
            print(f"docker/.env: {old_name} was renamed {new_name}, which is already set: remove {old_name}")
            continue
        env.rename(old_name, new_name)
        done.append(f"{old_name} -> {new_name}")
    if done:
        copy = keep_copy(env_path)
        env.write(env_path)
        print(f"docker/.env: renamed {', '.join(done)} (previous file kept as docker/{copy.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
