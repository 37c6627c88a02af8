"""restore.py: list backup sets, restore one into this instance, or rehearse it (--drill).

How a database comes back (the choice, and why): every database of the set is dropped
(WITH (FORCE), after the services that hold connections are stopped) and recreated from
its dump with `pg_restore --create`. The database then is exactly the dump: Supabase's
schemas, extensions, event triggers, grants, owners and database settings included, in
the order pg_dump recorded, with nothing left over from the state before. Roles live
outside databases: the ones this instance lacks are created from the set's roles.sql;
the ones it has are kept, because their passwords are those of its own docker/.env.
Afterwards the database settings that follow docker/.env (app.settings.jwt_secret, the
pooler's tenant) are put back in step with the instance's .env.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Optional

from . import cli
from .project import OpsError, Project

DESCRIPTION = """\
Without arguments: list this instance's backup sets (newest last).

  restore.py SET --yes [--config] [--no-storage]
      Restore a set (a timestamp from the list, `latest`, or a path) into this instance:
      checksums are verified before anything is touched, a safety backup is taken, the
      services are stopped, every database is replaced by its dump, the storage objects
      by the set's (unless --no-storage), and with --config also docker/.env, the compose
      and Caddy files and the Vault key volume (current files are kept as
      <file>.before-restore-<time>). Refuses without --yes.

  restore.py --drill [SET]
      Rehearse: restore a set (default: the newest) into a throwaway sibling instance
      <PROJECT_NAME>-drill with no published ports, run the health check and count table
      rows there, then remove it with its volumes. This instance is not touched.
"""

DRILL_SKIPS = ("caddy",)  # a drill never starts Caddy: it would ask for certificates


# ---------------------------------------------------------------------- listing
def set_rows(root: Path) -> list[dict]:
    from . import backupset

    rows = []
    for backup_set in reversed(backupset.list_sets(root)):
        try:
            manifest = backup_set.manifest
        except (OSError, ValueError):
            continue
        kinds = {part.get("group") or part["kind"] for part in manifest.get("parts", [])}
        rows.append(
            {
                "set": backup_set.name,
                "created": backup_set.created.strftime("%Y-%m-%d %H:%M UTC"),
                "label": manifest.get("label", ""),
                "size": cli.human_bytes(sum(p["bytes"] for p in manifest["parts"])),
                "bytes": sum(p["bytes"] for p in manifest["parts"]),
                "contains": ", ".join(sorted(kinds)),
                "template": manifest.get("template_version", ""),
                "path": str(backup_set.path),
            }
        )
    return rows


# ---------------------------------------------------------------------- restoring parts
def restore_database_parts(pg, backup_set, quiet: bool = False) -> tuple[list[str], list[str]]:
    """Roles, then every database of the set; returns (roles created, errors)."""
    from . import pgclient
    from .backup import ProgressLine

    roles = backup_set.parts("roles")
    created, errors = pgclient.restore_roles(pg, backup_set.file(roles[0])) if roles else ([], [])
    for part in backup_set.parts("database"):
        progress = ProgressLine(f"database {part['database']}", quiet)
        found = pgclient.restore_database(pg, part["database"], backup_set.file(part), progress)
        progress.finish(part["bytes"])
        errors += [f"{part['database']}: {error}" for error in found]
    return created, errors


def sync_database_with_env(pg, project: Project, databases: list[str]) -> None:
    """Settings that docker/.env owns: the JWT secret in SQL, and the pooler's tenant (which
    holds the pgbouncer password; pooler.exs recreates it when Supavisor starts)."""
    from . import pgclient, rotation

    def run(sql: str, database: str) -> str:
        return pgclient.run_sql(pg, sql, database).stdout.decode()

    env = project.env
    if "postgres" in databases and env.get("JWT_SECRET"):
        rotation.set_database_jwt_secret(run, env["JWT_SECRET"])
    if "_supabase" in databases and env.get("POOLER_TENANT_ID"):
        rotation.forget_pooler_tenant(run, env["POOLER_TENANT_ID"])


def ensure_volume(project: Project, key: str) -> str:
    """The instance's volume for `key`, created with Compose's labels when missing."""
    from . import dockerhost

    name = project.volume_name(key)
    if dockerhost.volume_named(name) is None:
        dockerhost.docker(
            "volume",
            "create",
            "--label",
            f"{dockerhost.PROJECT_LABEL}={project.name}",
            "--label",
            f"{dockerhost.VOLUME_LABEL}={key}",
            name,
        )
    return name


def restore_volume_parts(
    project: Project, image: str, backup_set, group: str, quiet: bool = False
) -> list[str]:
    """Replace the content of each volume of `group` with the set's tar; returns the volumes."""
    from . import pgclient
    from .backup import ProgressLine, volume_tar_command

    restored = []
    for part in backup_set.parts("volume", group):
        volume = ensure_volume(project, part["volume"])
        progress = ProgressLine(f"volume {part['volume']}", quiet)
        done = pgclient.feed_from(
            volume_tar_command(image, volume, "extract"),
            backup_set.file(part),
            f"restore of {volume}",
            progress=progress,
        )
        if done.returncode != 0:
            raise OpsError(
                f"restoring volume {volume} failed: {done.stdout.decode(errors='replace').strip()[:300]}"
            )
        progress.finish(part["bytes"])
        restored.append(part["volume"])
    return restored


def restore_config_files(project: Project, backup_set) -> list[str]:
    """Put the set's files back; differing current files are kept as <file>.before-restore-<time>."""
    import os
    import shutil
    import tarfile
    import tempfile

    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    part = backup_set.parts("files", "config")
    if not part:
        return []
    restored = []
    with tarfile.open(backup_set.file(part[0])) as tar:  # noqa: SIM117 - no parenthesised with on 3.9
        with tempfile.TemporaryDirectory(prefix="supabase-restore-") as tmp:
            for member in tar.getmembers():
                target = (project.root / member.name).resolve()
                if not member.isfile() or project.root not in target.parents:
                    continue  # only regular files inside the instance directory
                tar.extract(member, tmp)
                source = Path(tmp) / member.name
                if target.is_file() and target.read_bytes() == source.read_bytes():
                    continue
                if target.is_file():
                    keep = target.with_name(f"{target.name}.before-restore-{stamp}")
                    shutil.copy2(target, keep)
                    os.chmod(keep, target.stat().st_mode & 0o777)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                os.chmod(target, member.mode & 0o777)
                restored.append(member.name)
    return restored


# ---------------------------------------------------------------------- restore
def restore(
    project: Project,
    backup_set,
    config: bool = False,
    storage: bool = True,
    safety_backup: bool = True,
    quiet: bool = False,
) -> dict:
    from . import backup, backupset, pgclient

    problems = backupset.verify(backup_set)
    if problems:
        raise OpsError(
            f"backup set {backup_set.name} failed verification, nothing was changed: {'; '.join(problems)}"
        )
    origin = backup_set.manifest.get("project")
    if config and origin and origin != project.name:
        raise OpsError(
            f"set {backup_set.name} belongs to instance {origin!r}: --config would give this instance "
            "its name and secrets; restore without --config (data only), or in that instance's directory"
        )
    report: dict = {"set": str(backup_set.path), "project": project.name}
    password_before = project.env.get("POSTGRES_PASSWORD", "")
    with backupset.lock(project.backup_root()):
        project.compose("up", "-d", "--wait", "db")
        if safety_backup:
            safety = backup.create_backup(project, "pre-restore", quiet=quiet, take_lock=False)
            report["safety_backup"] = str(safety.path)
            cli.status(f"safety backup: {safety.path}")
        others = [service for service in project.services() if service != "db"]
        if others:
            project.compose("stop", *others)
        image = project.service_images()["db"]
        if config:
            report["config_files"] = restore_config_files(project, backup_set)
            project.compose("stop", "db")
            report["config_volumes"] = restore_volume_parts(project, image, backup_set, "config", quiet)
            project.compose("up", "-d", "--wait", "db")
        pg = pgclient.ContainerPg(project)
        created, errors = restore_database_parts(pg, backup_set, quiet)
        databases = [part["database"] for part in backup_set.parts("database")]
        if config and project.env.get("POSTGRES_PASSWORD", "") != password_before:
            from . import rotation

            rotation.change_role_passwords(
                lambda sql, database: pgclient.run_sql(pg, sql, database).stdout.decode(),
                project.env["POSTGRES_PASSWORD"],
            )
        sync_database_with_env(pg, project, databases)
        report.update(databases=databases, roles_created=created, errors=errors)
        if storage:
            report["storage_volumes"] = restore_volume_parts(project, image, backup_set, "storage", quiet)
        started = project.compose("up", "-d", "--wait", check=False)
        report["started"] = started.returncode == 0
    return report


# ---------------------------------------------------------------------- drill
def drill_project(project: Project, override: Path) -> Project:
    from . import dockerhost, registry

    name = f"{project.name}-drill"
    if name in registry.load():
        raise OpsError(f"an instance named {name!r} is registered on this host; a drill would destroy it")
    for container in dockerhost.containers(project=name):
        if Path(container.working_dir or "/").resolve() != project.docker_dir:
            raise OpsError(
                f"compose project {name!r} exists here from {container.working_dir}; a drill would destroy it"
            )
    services = project.services()
    override.write_text(
        "# Restore drill: nothing published, so it runs beside the instance it rehearses.\nservices:\n"
        + "".join(f"  {service}:\n    ports: !reset []\n" for service in services),
        encoding="utf-8",
    )
    return Project(project.root, env_overrides={"PROJECT_NAME": name}, extra_files=[override])


def drill(project: Project, backup_set, quiet: bool = False) -> dict:
    """Restore a set into a throwaway sibling, check it, remove it; returns the findings."""
    import tempfile

    from . import backupset, health, pgclient

    problems = backupset.verify(backup_set)
    if problems:
        raise OpsError(f"backup set {backup_set.name} failed verification: {'; '.join(problems)}")
    with tempfile.TemporaryDirectory(prefix="supabase-drill-") as tmp:
        sibling = drill_project(project, Path(tmp) / "drill.override.yml")
        report: dict = {"set": str(backup_set.path), "drill_project": sibling.name}
        services = [s for s in sibling.services() if s not in DRILL_SKIPS]
        try:
            sibling.compose(
                "down", "-v", "--remove-orphans", capture=True
            )  # leftovers of an interrupted drill
            image = sibling.service_images()["db"]
            restore_volume_parts(sibling, image, backup_set, "config", quiet)
            cli.status(f"starting the database of {sibling.name}")
            sibling.compose("up", "-d", "--wait", "db")
            pg = pgclient.ContainerPg(sibling)
            created, errors = restore_database_parts(pg, backup_set, quiet)
            databases = [part["database"] for part in backup_set.parts("database")]
            sync_database_with_env(pg, sibling, databases)
            restore_volume_parts(sibling, image, backup_set, "storage", quiet)
            cli.status(f"starting {sibling.name}")
            started = sibling.compose("up", "-d", "--wait", *services, check=False)
            containers = {c.service: c for c in sibling.containers()}
            results = health.run_probes(health.service_probes(sibling, containers, services))
            counts = pgclient.table_row_counts(pg)
            report.update(
                errors=errors,
                roles_created=created,
                started=started.returncode == 0,
                health=[r.__dict__ for r in results],
                healthy=health.healthy(results),
                tables=len(counts),
                rows=sum(row["rows"] for row in counts),
                row_counts=counts,
            )
        finally:
            cli.status(f"removing {sibling.name} and its volumes")
            sibling.compose("down", "-v", "--remove-orphans", check=False, capture=True)
    report["ok"] = not report.get("errors") and report.get("healthy", False)
    return report


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("set", nargs="?", help="backup set: a timestamp from the list, `latest`, or a path")
    parser.add_argument("--yes", action="store_true", help="really replace this instance's data with the set")
    parser.add_argument(
        "--config",
        action="store_true",
        help="also restore docker/.env, compose/Caddy files and the Vault key",
    )
    parser.add_argument("--no-storage", action="store_true", help="leave the storage objects as they are")
    parser.add_argument(
        "--no-safety-backup",
        action="store_true",
        help="skip the backup taken before restoring (only when the instance cannot be backed up)",
    )
    parser.add_argument(
        "--drill", action="store_true", help="rehearse the restore in a throwaway sibling instance"
    )
    parser.add_argument("--list", action="store_true", help="list the backup sets (the default without SET)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    cli.add_json_flag(parser)


def print_report(report: dict) -> None:
    for key in (
        "safety_backup",
        "drill_project",
        "databases",
        "roles_created",
        "config_files",
        "config_volumes",
        "storage_volumes",
        "tables",
        "rows",
    ):
        if report.get(key) not in (None, [], ""):
            value = report[key]
            print(f"{key.replace('_', ' ')}: {', '.join(value) if isinstance(value, list) else value}")
    if report.get("health"):
        from .health import Result, results_table

        print(results_table([Result(**row) for row in report["health"]]))
    for error in report.get("errors", [])[:20]:
        print(f"pg_restore: {error}")


def run(args: argparse.Namespace) -> int:
    from . import backupset

    project = cli.project(args)
    root = project.backup_root()
    if args.list or (not args.set and not args.drill):
        rows = set_rows(root)
        if args.json:
            cli.print_json({"project": project.name, "root": str(root), "sets": rows})
        elif rows:
            print(
                cli.table(
                    rows,
                    [
                        ("set", "SET"),
                        ("created", "CREATED"),
                        ("label", "LABEL"),
                        ("size", "SIZE"),
                        ("contains", "CONTAINS"),
                        ("template", "TEMPLATE"),
                    ],
                )
            )
        else:
            print(f"no backup sets in {root} yet: `python3 scripts/backup.py` makes one")
        return cli.EXIT_OK
    backup_set = backupset.find_set(root, args.set or "latest")
    if args.drill:
        report = drill(project, backup_set, args.quiet)
        ok = report["ok"]
        summary = f"drill of {backup_set.name}: " + ("passed" if ok else "FAILED")
    else:
        parts = (
            "databases"
            + ("" if args.no_storage else ", storage objects")
            + (", configuration" if args.config else "")
        )
        cli.confirm_flag(
            args,
            f"restoring {backup_set.name} replaces the {parts} of instance {project.name!r} "
            "(a safety backup is taken first)",
        )
        manifest_project = backup_set.manifest.get("project")
        if manifest_project and manifest_project != project.name:
            cli.status(f"note: set {backup_set.name} was made by instance {manifest_project!r}")
        report = restore(
            project, backup_set, args.config, not args.no_storage, not args.no_safety_backup, args.quiet
        )
        ok = not report["errors"] and report["started"]
        summary = f"restore of {backup_set.name} into {project.name}: " + (
            "done"
            if ok
            else "finished with problems (see above)"
            + (f"; the state before is in {report['safety_backup']}" if report.get("safety_backup") else "")
        )
    if args.json:
        cli.print_json({**report, "ok": ok})
    else:
        print_report(report)
        print(summary)
    return cli.EXIT_OK if ok else cli.EXIT_FAILED


def main(argv: Optional[list] = None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv)
