"""backup.py: one complete, verified, timestamped backup set of this instance.

A set holds the roles and every database (pg_dump custom format, streamed out of the db
container), the storage objects (the MinIO or file volume, as a tar streamed from a
throwaway container) and the configuration (docker/.env, compose and Caddy files, the
answers file, and the volume with the key that encrypts Vault secrets). Retention
(BACKUP_KEEP_DAILY/WEEKLY/MONTHLY) runs after each successful backup.
"""

from __future__ import annotations

import argparse
import io
import re
import time
from typing import Optional

from . import cli
from .project import OpsError, Project

DESCRIPTION = """\
Back up this instance into <BACKUP_ROOT>/<PROJECT_NAME>/<UTC timestamp>/: roles and
databases (pg_dump, verified with pg_restore --list), storage objects, configuration
(docker/.env, compose and Caddy files, the Vault key volume) and a manifest.json with
sizes, SHA-256 checksums, image tags and the template version. Files are 0600.
Then applies retention: BACKUP_KEEP_DAILY/WEEKLY/MONTHLY in docker/.env.

  --install-schedule   add a nightly entry (BACKUP_SCHEDULE) to cron (or a systemd timer)
  --remove-schedule    remove it; other instances' entries are never touched
"""

# Volumes by what they hold. Storage objects live in one of the first two, depending on
# the storage backend; the rest is configuration: the pgsodium/Vault root key (data in
# Vault cannot be decrypted without it), Studio's saved SQL, Caddy's certificates.
STORAGE_VOLUMES = ("minio-data", "storage-data")
CONFIG_VOLUMES = ("db-config", "studio-snippets", "caddy-data")
KEEP_SETTINGS = ("BACKUP_KEEP_DAILY", "BACKUP_KEEP_WEEKLY", "BACKUP_KEEP_MONTHLY")


class ProgressLine:
    """Bytes written so far, on stderr, at most every two seconds."""

    def __init__(self, label: str, quiet: bool = False):
        self.label, self.quiet = label, quiet
        self.started = self.shown = time.monotonic()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if not self.quiet and now - self.shown >= 2:
            self.shown = now
            cli.status(f"  {self.label}: {cli.human_bytes(done)} written")

    def finish(self, done: int) -> None:
        if not self.quiet:
            seconds = max(time.monotonic() - self.started, 1e-3)
            cli.status(f"  {self.label}: {cli.human_bytes(done)} ({cli.human_bytes(done / seconds)}/s)")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


# ---------------------------------------------------------------------- the parts
def write_database_parts(pg, writer, quiet: bool = False) -> None:
    """Roles, then each database as a custom-format dump checked by pg_restore --list."""
    from . import pgclient

    with writer.open("roles.sql") as handle:
        size, digest = pgclient.dump_roles(pg, handle)
    writer.add("roles.sql", "roles", size, digest)
    for database in pgclient.databases(pg):
        filename = f"db-{_safe(database)}.dump"
        progress = ProgressLine(f"database {database}", quiet)
        with writer.open(filename) as handle:
            size, digest = pgclient.dump_database(pg, database, handle, progress)
        progress.finish(size)
        entries = pgclient.verify_dump(pg, writer.path(filename))
        writer.add(filename, "database", size, digest, database=database, toc_entries=entries)


def volume_tar_command(image: str, volume: str, mode: str) -> list[str]:
    """A throwaway container of `image` with the volume at /volume, running tar on it.

    mode "create" writes the volume as a tar to stdout; "extract" empties the volume and
    unpacks a tar from stdin. No network; numeric owners keep the services' file ownership.
    """
    base = ["docker", "run", "--rm", "-i", "--network", "none", "--user", "0:0"]
    if mode == "create":
        return [
            *base,
            "-v",
            f"{volume}:/volume:ro",
            "--entrypoint",
            "tar",
            image,
            "--numeric-owner",
            "-C",
            "/volume",
            "-cf",
            "-",
            ".",
        ]
    script = "find /volume -mindepth 1 -delete && tar --numeric-owner -C /volume -xpf -"
    return [*base, "-v", f"{volume}:/volume", "--entrypoint", "sh", image, "-c", script]


def write_volume_part(project: Project, image: str, writer, key: str, group: str, quiet: bool) -> bool:
    """Stream one named volume of the instance into the set; False when it does not exist."""
    from . import dockerhost, pgclient

    volume = project.volume_name(key)
    if dockerhost.volume_named(volume) is None:
        return False
    filename = f"volume-{key}.tar"
    progress = ProgressLine(f"volume {key}", quiet)
    with writer.open(filename) as handle:
        size, digest = pgclient.capture_to(
            volume_tar_command(image, volume, "create"), handle, f"tar of volume {volume}", progress=progress
        )
    progress.finish(size)
    writer.add(filename, "volume", size, digest, volume=key, group=group)
    return True


def write_config_files(project: Project, writer) -> None:
    """docker/.env, compose and Caddy files and the answers file, as config.tar.gz."""
    import hashlib
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in project.config_files():
            archive.add(path, arcname=str(path.relative_to(project.root)), recursive=False)
    data = buffer.getvalue()
    with writer.open("config.tar.gz") as handle:
        handle.write(data)
    writer.add("config.tar.gz", "files", len(data), hashlib.sha256(data).hexdigest(), group="config")


def instance_metadata(project: Project, containers: dict, label: str) -> dict:
    import socket

    answers = project.answers()
    return {
        "project": project.name,
        "label": label,
        "environment": project.environment,
        "template_version": answers.get("_commit", "unknown"),
        "template_source": answers.get("_src_path", ""),
        "images": {
            service: {"image": c.image, "id": c.image_id} for service, c in sorted(containers.items())
        },
        "host": socket.gethostname(),
    }


# ---------------------------------------------------------------------- whole sets
def create_backup(
    project: Project,
    label: str = "manual",
    storage: bool = True,
    quiet: bool = False,
    take_lock: bool = True,
):
    """Write one complete set (or nothing) and return it."""
    from . import backupset, pgclient

    running = project.running()
    if "db" not in running:
        raise OpsError(
            f"the db container of {project.name} is not running; a backup needs the database: "
            "start the instance with `python3 scripts/start.py`"
        )
    image = running["db"].image_id
    pg = pgclient.ContainerPg(project)
    with backupset.SetWriter(project.backup_root(), take_lock=take_lock) as writer:
        if not quiet:
            cli.status(f"backing up {project.name} into {project.backup_root() / writer.name}")
        write_database_parts(pg, writer, quiet)
        if storage:
            for key in STORAGE_VOLUMES:
                write_volume_part(project, image, writer, key, "storage", quiet)
        write_config_files(project, writer)
        for key in CONFIG_VOLUMES:
            write_volume_part(project, image, writer, key, "config", quiet)
        return writer.finish(instance_metadata(project, running, label))


def keep_counts(project: Project) -> tuple[int, int, int]:
    env = project.env
    counts = []
    for key, default in zip(KEEP_SETTINGS, (7, 4, 12)):
        raw = env.get(key, "") or str(default)
        if not raw.isdigit():
            raise OpsError(f"{key}={raw!r} in docker/.env must be a whole number (0 keeps none of that kind)")
        counts.append(int(raw))
    return counts[0], counts[1], counts[2]


def prune(project: Project, now_sets: Optional[list] = None) -> list[str]:
    """Delete the sets retention no longer keeps; returns their names. Never the newest."""
    import shutil

    from . import backupset, retention

    sets = now_sets if now_sets is not None else backupset.list_sets(project.backup_root())
    by_moment = {s.created: s for s in sets}
    removed = []
    for moment in retention.expired(by_moment, *keep_counts(project)):
        shutil.rmtree(by_moment[moment].path)
        removed.append(by_moment[moment].name)
    return removed


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-storage", action="store_true", help="skip the storage objects (database and config only)"
    )
    parser.add_argument("--label", default="manual", help="recorded in the manifest (default: manual)")
    parser.add_argument("--no-prune", action="store_true", help="keep every set (skip retention this time)")
    parser.add_argument("--quiet", action="store_true", help="no progress; print only the set's path")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument(
        "--install-schedule", action="store_true", help="install the nightly backup (BACKUP_SCHEDULE)"
    )
    schedule.add_argument(
        "--remove-schedule", action="store_true", help="remove this instance's nightly backup"
    )
    cli.add_json_flag(parser)


def _terminate(signum, frame):
    raise OpsError("backup interrupted (SIGTERM); no set was written")


def run(args: argparse.Namespace) -> int:
    project = cli.project(args)
    if args.install_schedule or args.remove_schedule:
        from . import schedule

        print(schedule.install(project) if args.install_schedule else schedule.remove(project))
        return cli.EXIT_OK
    import signal

    signal.signal(signal.SIGTERM, _terminate)  # clean up the partial set as on any failure
    started = time.monotonic()
    backup_set = create_backup(project, args.label, storage=not args.no_storage, quiet=args.quiet)
    removed = [] if args.no_prune else prune(project)
    seconds = time.monotonic() - started
    if args.json:
        cli.print_json(
            {
                "set": str(backup_set.path),
                "seconds": round(seconds, 1),
                "pruned": removed,
                "manifest": backup_set.manifest,
            }
        )
    elif args.quiet:
        print(backup_set.path)
    else:
        rows = [{**part, "size": cli.human_bytes(part["bytes"])} for part in backup_set.manifest["parts"]]
        print(cli.table(rows, [("file", "FILE"), ("kind", "KIND"), ("size", "SIZE"), ("sha256", "SHA-256")]))
        print(
            f"\nbackup set {backup_set.path} complete: "
            f"{cli.human_bytes(backup_set.total_bytes())} in {seconds:.1f}s"
        )
        if removed:
            print(f"retention removed {len(removed)} older set(s): {', '.join(removed)}")
    return cli.EXIT_OK


def main(argv=None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv)
