"""The nightly backup of one instance: a crontab line, or a systemd timer where cron is absent.

Every entry is tagged with the project name, so installing is idempotent (the old entry
is replaced) and instances on one host never touch each other's schedule.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .project import OpsError, Project

SYSTEMD_DIR = Path("/etc/systemd/system")
_FIELD = re.compile(r"^[\d*/,-]+$")


def tag(project: Project) -> str:
    return f"# supabase-backup:{project.name}"


def check_schedule(schedule: str) -> list[str]:
    fields = schedule.split()
    if len(fields) != 5 or not all(_FIELD.match(field) for field in fields):
        raise OpsError(
            f"BACKUP_SCHEDULE={schedule!r} in docker/.env is not a cron schedule: five fields "
            "'minute hour day month weekday' of digits, '*', ',', '-' and '/', e.g. '30 2 * * *'"
        )
    return fields


def backup_command(project: Project) -> str:
    """What the schedule runs: this python, this instance, output appended to a log."""
    log = project.backup_root() / "backup.log"
    return (
        f"cd {shlex.quote(str(project.root))} && {shlex.quote(sys.executable)} scripts/backup.py "
        f"--quiet --label scheduled >> {shlex.quote(str(log))} 2>&1"
    )


def cron_line(project: Project) -> str:
    schedule = " ".join(check_schedule(project.env.get("BACKUP_SCHEDULE", "30 2 * * *")))
    return f"{schedule} {backup_command(project)} {tag(project)}"


def _read_crontab(crontab: Sequence[str]) -> list[str]:
    done = subprocess.run([*crontab, "-l"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if "no crontab" in done.stderr.lower():
            return []
        raise OpsError(f"`crontab -l` failed: {done.stderr.strip()}")
    return done.stdout.splitlines()


def _write_crontab(crontab: Sequence[str], lines: list[str]) -> None:
    text = "".join(line + "\n" for line in lines)
    done = subprocess.run([*crontab, "-"], input=text, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OpsError(f"`crontab -` refused the new table: {done.stderr.strip()}")


def install_cron(project: Project, crontab: Sequence[str] = ("crontab",)) -> tuple[str, bool]:
    """(the entry, whether the crontab changed)."""
    line = cron_line(project)
    current = _read_crontab(crontab)
    wanted, placed = [], False
    for existing in current:  # this instance's entry is replaced where it stands
        if not existing.endswith(tag(project)):
            wanted.append(existing)
        elif not placed:
            wanted.append(line)
            placed = True
    if not placed:
        wanted.append(line)
    if wanted != current:
        _write_crontab(crontab, wanted)
    return line, wanted != current


def remove_cron(project: Project, crontab: Sequence[str] = ("crontab",)) -> bool:
    current = _read_crontab(crontab)
    others = [existing for existing in current if not existing.endswith(tag(project))]
    if others != current:
        _write_crontab(crontab, others)
    return others != current


def unit_name(project: Project) -> str:
    return f"supabase-backup-{project.name}"


def on_calendar(schedule: str) -> str:
    """Daily cron schedules ('M H * * *') as systemd OnCalendar; others are refused."""
    minute, hour, day, month, weekday = check_schedule(schedule)
    if not (minute.isdigit() and hour.isdigit() and day == month == weekday == "*"):
        raise OpsError(
            f"BACKUP_SCHEDULE={schedule!r} cannot be turned into a systemd timer here: use a daily "
            "'M H * * *' schedule, or install cron (apt-get install cron) for full cron syntax"
        )
    return f"*-*-* {int(hour):02d}:{int(minute):02d}:00"


def install_timer(project: Project, unit_dir: Path = SYSTEMD_DIR) -> str:
    calendar = on_calendar(project.env.get("BACKUP_SCHEDULE", "30 2 * * *"))
    name = unit_name(project)
    (unit_dir / f"{name}.service").write_text(
        f"[Unit]\nDescription=Backup of Supabase instance {project.name}\n\n"
        f"[Service]\nType=oneshot\nExecStart=/bin/sh -c {shlex.quote(backup_command(project))}\n",
        encoding="utf-8",
    )
    (unit_dir / f"{name}.timer").write_text(
        f"[Unit]\nDescription=Nightly backup of Supabase instance {project.name}\n\n"
        f"[Timer]\nOnCalendar={calendar}\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n",
        encoding="utf-8",
    )
    for command in (["daemon-reload"], ["enable", "--now", f"{name}.timer"]):
        done = subprocess.run(["systemctl", *command], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise OpsError(f"`systemctl {' '.join(command)}` failed: {done.stderr.strip()}")
    return f"{name}.timer ({calendar})"


def remove_timer(project: Project, unit_dir: Path = SYSTEMD_DIR) -> bool:
    name = unit_name(project)
    units = [unit_dir / f"{name}.timer", unit_dir / f"{name}.service"]
    if not any(unit.exists() for unit in units):
        return False
    subprocess.run(["systemctl", "disable", "--now", f"{name}.timer"], capture_output=True, check=False)
    for unit in units:
        unit.unlink(missing_ok=True)
    subprocess.run(["systemctl", "daemon-reload"], capture_output=True, check=False)
    return True


def install(project: Project) -> str:
    if shutil.which("crontab"):
        line, changed = install_cron(project)
        return f"crontab entry {'installed' if changed else 'already installed'}: {line}"
    if shutil.which("systemctl") and SYSTEMD_DIR.is_dir():
        return f"systemd timer installed: {install_timer(project)}"
    raise OpsError("neither cron nor systemd is available: install cron (apt-get install cron) and retry")


def remove(project: Project) -> str:
    removed = []
    if shutil.which("crontab") and remove_cron(project):
        removed.append("crontab entry")
    if SYSTEMD_DIR.is_dir() and remove_timer(project):
        removed.append("systemd timer")
    return f"removed the {' and '.join(removed)}" if removed else "no backup schedule was installed"
