"""The secrets hook (hooks/generate_env.py) and the rename migration (hooks/migrate_env.py).

The hook runs as Copier runs it: a subprocess in the project directory. A project rendered
once with real Copier is copied for each test that changes it.

PYTEST_DONT_REWRITE: a failing assert must not print the secrets it compares.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import bcrypt
import jwt
import pytest
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops.envfile import EnvFile
from supabase_ops.secrets import SECRETS, sync_env

HOOK = ROOT / "hooks" / "generate_env.py"


def run_hook(project: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HOOK)], cwd=project, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def project(default_project: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "acme-shop"
    shutil.copytree(default_project, copy)
    return copy


def env_path(project: Path) -> Path:
    return project / "docker" / ".env"


def masked(lines: list[str], keys) -> list[str]:
    """The lines with the values of `keys` replaced, to compare structure and the other values."""
    out = []
    for line in lines:
        key = line.split("=", 1)[0]
        out.append(f"{key}=<generated>" if "=" in line and key in keys and not line.startswith("#") else line)
    return out


# ---------------------------------------------------------------------- a first render
def test_fresh_env_follows_the_example_line_by_line(project):
    example = (project / "docker" / ".env.example").read_text().splitlines()
    env = env_path(project).read_text().splitlines()
    secret_keys = set(SECRETS)
    assert masked(env, secret_keys) == masked(example, secret_keys)
    values = EnvFile.load(env_path(project)).values()
    assert [key for key in SECRETS if key in values and not values[key]] == []


def test_env_is_private_and_gitignored(project):
    assert stat.S_IMODE(env_path(project).stat().st_mode) == 0o600
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    ignored = subprocess.run(
        ["git", "check-ignore", "docker/.env", "docker/.env.previous-20990101T000000"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.stdout.split() == ["docker/.env", "docker/.env.previous-20990101T000000"]


# ---------------------------------------------------------------------- idempotence and what is kept
def test_second_run_changes_nothing(project):
    path = env_path(project)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    done = run_hook(project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "docker/.env is up to date"
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime


def test_mode_is_restored_to_0600(project):
    env_path(project).chmod(0o644)
    assert run_hook(project).returncode == 0
    assert stat.S_IMODE(env_path(project).stat().st_mode) == 0o600


def test_user_keys_and_values_are_kept(project):
    path = env_path(project)
    text = path.read_text().replace("SITE_URL=http://localhost:5173", "SITE_URL=https://app.example.com")
    text += "# my own settings\nMY_FEATURE_FLAG=on\nSMTP_PASS_EXTRA='with spaces $and dollars'\n"
    path.write_text(text)
    done = run_hook(project)
    assert done.returncode == 0, done.stderr
    assert path.read_text() == text
    # The changed answer is reported by name only.
    assert "SITE_URL" in done.stdout and "app.example.com" not in done.stdout


def test_missing_keys_come_back_in_place_derived_from_what_is_kept(project):
    path = env_path(project)
    original = path.read_text().splitlines()
    values = EnvFile.load(path).values()
    removed = {"ANON_KEY", "JWT_JWKS", "ANON_KEY_ASYMMETRIC", "DASHBOARD_PASSWORD_HASH", "PGRST_DB_MAX_ROWS"}
    # A whole section too: its header and comments come back with it.
    kept = [line for line in original if line.split("=", 1)[0] not in removed]
    redis_start = kept.index("# Redis") - 2  # blank, rule, title, rule, REDIS_PASSWORD
    kept = kept[:redis_start] + kept[redis_start + 5 :]
    assert "REDIS_PASSWORD" not in "\n".join(kept)
    path.write_text("\n".join(kept) + "\n")

    done = run_hook(project)
    assert done.returncode == 0, done.stderr
    regenerated = {"ANON_KEY", "JWT_JWKS", "ANON_KEY_ASYMMETRIC", "DASHBOARD_PASSWORD_HASH", "REDIS_PASSWORD"}
    assert masked(path.read_text().splitlines(), regenerated) == masked(original, regenerated)
    assert "added PGRST_DB_MAX_ROWS" in done.stdout
    new = EnvFile.load(path).values()
    assert jwt.decode(new["ANON_KEY"], values["JWT_SECRET"], algorithms=["HS256"])["role"] == "anon"
    assert json.loads(new["JWT_JWKS"]) == json.loads(
        values["JWT_JWKS"]
    )  # the public half of the kept key set
    jwks = jwt.PyJWKSet.from_dict(json.loads(new["JWT_JWKS"]))
    assert jwt.decode(new["ANON_KEY_ASYMMETRIC"], jwks.keys[0].key, algorithms=["ES256"])["role"] == "anon"
    assert bcrypt.checkpw(
        values["DASHBOARD_PASSWORD"].encode(), base64.b64decode(new["DASHBOARD_PASSWORD_HASH"])
    )
    assert new["REDIS_PASSWORD"] != "" and new["REDIS_PASSWORD"] != values["REDIS_PASSWORD"]


def test_an_emptied_secret_is_generated_again(project):
    path = env_path(project)
    values = EnvFile.load(path).values()
    text = path.read_text().replace(f"VAULT_ENC_KEY={values['VAULT_ENC_KEY']}\n", "VAULT_ENC_KEY=\n")
    path.write_text(text)
    done = run_hook(project)
    assert done.stdout.strip() == "docker/.env: generated VAULT_ENC_KEY"
    new = EnvFile.load(path).values()
    assert len(new["VAULT_ENC_KEY"]) == 32 and new["VAULT_ENC_KEY"] != values["VAULT_ENC_KEY"]
    assert {k: v for k, v in new.items() if k != "VAULT_ENC_KEY"} == {
        k: v for k, v in values.items() if k != "VAULT_ENC_KEY"
    }


def test_only_keys_of_the_example_are_generated(render):
    project = render(project_name="lean-shop", storage_backend="file", enable_redis=False)
    values = EnvFile.load(env_path(project)).values()
    assert not {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "REDIS_PASSWORD"} & set(values)
    assert all(values[key] for key in SECRETS if key in values)


# ---------------------------------------------------------------------- where inserted keys go
EXAMPLE_V2 = """\
# header
############
# Section A
############
A_ONE=1
# about the new key
A_NEW=fresh
A_TWO=2

############
# Section B
############
B_FIRST=first
B_ONE=1

############
# Section C
############
C_ONE=1
"""


def test_inserted_keys_keep_their_comments_and_sections():
    """A new key lands after its predecessor in the example, with its comment; a new section
    after the previous one (and after what the user added there); a key under an existing
    header goes under it, without a second header."""
    current = (
        "# header\n############\n# Section A\n############\nA_ONE=1\nA_TWO=2\n\n"
        "############\n# Section B\n############\nB_ONE=1\n# mine\nUSER_KEY=mine\n"
    )
    env, report = sync_env(EnvFile.parse(EXAMPLE_V2), EnvFile.parse(current))
    assert env.render() == (
        "# header\n############\n# Section A\n############\n"
        "A_ONE=1\n# about the new key\nA_NEW=fresh\nA_TWO=2\n\n"
        "############\n# Section B\n############\nB_FIRST=first\nB_ONE=1\n# mine\nUSER_KEY=mine\n\n"
        "############\n# Section C\n############\nC_ONE=1\n"
    )
    assert report.added == ["A_NEW", "B_FIRST", "C_ONE"] and report.generated == []


# ---------------------------------------------------------------------- failures
def test_missing_dependency_says_what_to_install(tmp_path, project):
    """With cryptography and bcrypt unimportable, the hook stops and names the fix."""
    blocker = tmp_path / "blocked"
    for package in ("cryptography", "bcrypt"):
        (blocker / package).mkdir(parents=True)
        (blocker / package / "__init__.py").write_text(
            f"raise ImportError('{package} blocked by the test')\n"
        )
    env_path(project).unlink()
    done = run_hook(project, env=dict(os.environ, PYTHONPATH=str(blocker)))
    assert done.returncode == 1
    assert "'cryptography' is needed" in done.stderr
    assert "uv tool install" in done.stderr and "--with cryptography --with bcrypt" in done.stderr
    assert "pipx inject copier" in done.stderr
    assert "Traceback" not in done.stderr
    assert not env_path(project).exists()


def test_missing_example_is_a_clear_error(project):
    (project / "docker" / ".env.example").unlink()
    done = run_hook(project)
    assert done.returncode == 1 and "docker/.env.example is missing" in done.stderr
    assert "Traceback" not in done.stderr


def test_quiet_in_copiers_scratch_copies(project, tmp_path):
    scratch = tmp_path / "copier._main.old_copy.abc123"
    shutil.copytree(project, scratch)
    env_path(scratch).unlink()
    done = run_hook(scratch)
    assert done.returncode == 0 and done.stdout == ""
    assert env_path(scratch).exists()


# ---------------------------------------------------------------------- the rename migration
def load_migration(renames=None):
    spec = importlib.util.spec_from_file_location("migrate_env_under_test", ROOT / "hooks" / "migrate_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if renames is not None:
        module.RENAMES = renames
    return module


def test_the_shipped_rename_table_is_well_formed():
    from packaging.version import Version

    renames = load_migration().RENAMES
    versions = [Version(version) for version, _, _ in renames]  # each version parses
    assert versions == sorted(versions)
    assert all(old.isupper() and new.isupper() and old != new for _, old, new in renames)


@pytest.mark.parametrize(
    ("version_from", "version_to", "renamed"),
    [("1.0.0", "2.0.0", True), ("1.0.0", "1.5.0", False), ("2.0.0", "2.1.0", False)],
)
def test_rename_applies_inside_its_version_range(project, monkeypatch, version_from, version_to, renamed):
    path = env_path(project)
    old_value = EnvFile.load(path).get("PG_META_CRYPTO_KEY")
    module = load_migration([("2.0.0", "PG_META_CRYPTO_KEY", "PG_META_ENCRYPTION_KEY")])
    monkeypatch.chdir(project)
    monkeypatch.setenv("VERSION_PEP440_FROM", version_from)
    monkeypatch.setenv("VERSION_PEP440_TO", version_to)
    assert module.main() == 0
    values = EnvFile.load(path).values()
    copies = list(path.parent.glob(".env.previous-*"))
    if renamed:
        assert values["PG_META_ENCRYPTION_KEY"] == old_value and "PG_META_CRYPTO_KEY" not in values
        assert len(copies) == 1 and stat.S_IMODE(copies[0].stat().st_mode) == 0o600
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    else:
        assert values["PG_META_CRYPTO_KEY"] == old_value and "PG_META_ENCRYPTION_KEY" not in values
        assert copies == []


def test_rename_never_overwrites_an_existing_key(project, monkeypatch, capsys):
    path = env_path(project)
    path.write_text(path.read_text() + "PG_META_ENCRYPTION_KEY=already-set-by-the-user-000000000000\n")
    before = path.read_bytes()
    module = load_migration([("2.0.0", "PG_META_CRYPTO_KEY", "PG_META_ENCRYPTION_KEY")])
    monkeypatch.chdir(project)
    monkeypatch.setenv("VERSION_PEP440_FROM", "1.0.0")
    monkeypatch.setenv("VERSION_PEP440_TO", "2.0.0")
    assert module.main() == 0
    assert path.read_bytes() == before
    assert "already set" in capsys.readouterr().out
