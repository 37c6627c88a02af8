"""The configuration part of a backup set: written without Docker, put back by restore --config."""

from __future__ import annotations

import sys
import tarfile

import pytest
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import backupset
from supabase_ops.backup import write_config_files
from supabase_ops.project import OpsError, Project
from supabase_ops.restore import restore, restore_config_files


@pytest.fixture
def project(render, tmp_path, monkeypatch) -> Project:
    monkeypatch.setenv("SUPABASE_INSTANCES_REGISTRY", str(tmp_path / "registry.json"))
    return Project(render(project_name="config-shop"))


def config_set(project: Project, name: str = "config-shop") -> backupset.BackupSet:
    with backupset.SetWriter(project.backup_root()) as writer:
        write_config_files(project, writer)
        return writer.finish({"project": name})


def test_changed_files_come_back_and_the_current_ones_are_kept(project):
    env_before = project.env_path.read_bytes()
    compose = project.docker_dir / "docker-compose.yml"
    compose_before = compose.read_bytes()
    backup_set = config_set(project)
    with tarfile.open(backup_set.file(backup_set.parts("files")[0])) as archive:
        archived = set(archive.getnames())
    assert {
        ".copier-answers.yml",
        "docker/.env",
        "docker/.env.example",
        "docker/docker-compose.yml",
        "docker/docker-compose.local.yml",
        "caddy/Caddyfile.local",
    } <= archived
    assert (backup_set.file(backup_set.parts("files")[0]).stat().st_mode & 0o777) == 0o600

    env = project.env_file()
    env.set("SITE_URL", "https://changed.example.com")
    env.write()
    compose.write_text("# edited\n" + compose.read_text())

    restored = restore_config_files(project, backup_set)

    assert sorted(restored) == ["docker/.env", "docker/docker-compose.yml"]
    assert project.env_path.read_bytes() == env_before
    assert compose.read_bytes() == compose_before
    assert (project.env_path.stat().st_mode & 0o777) == 0o600
    kept = sorted(p.name for p in project.docker_dir.iterdir() if ".before-restore-" in p.name)
    assert [name.split(".before-restore-")[0] for name in kept] == [".env", "docker-compose.yml"]
    kept_env = next(p for p in project.docker_dir.iterdir() if p.name.startswith(".env.before-restore-"))
    assert (kept_env.stat().st_mode & 0o777) == 0o600
    assert b"https://changed.example.com" in kept_env.read_bytes()
    assert restore_config_files(project, backup_set) == []  # nothing differs any more


def test_another_instances_configuration_is_refused(project):
    backup_set = config_set(project, name="other-shop")
    with pytest.raises(OpsError, match="belongs to instance 'other-shop': --config would give this instance"):
        restore(project, backup_set, config=True)
