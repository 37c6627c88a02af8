"""Backup retention (supabase_ops.retention) over a simulated year, and pruning real set folders."""

from __future__ import annotations

import datetime as dt
import sys

import pytest
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import backupset, retention

UTC = dt.timezone.utc


def nightly(start: dt.date, end: dt.date, hour: int = 2, minute: int = 30) -> list[dt.datetime]:
    days = (end - start).days + 1
    return [
        dt.datetime.combine(start + dt.timedelta(days=n), dt.time(hour, minute), tzinfo=UTC)
        for n in range(days)
    ]


# 2025: a nightly set every day, plus deployment backups in the afternoon of some days.
YEAR = nightly(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
EXTRA = [
    dt.datetime(2025, 3, 14, 15, 0, tzinfo=UTC),
    dt.datetime(2025, 12, 30, 15, 0, tzinfo=UTC),
    dt.datetime(2025, 12, 21, 18, 45, tzinfo=UTC),
]
SETS = sorted(YEAR + EXTRA)

# What 7 daily / 4 weekly / 12 monthly keep on 2025-12-31, worked out by hand:
# daily: the last 7 days, the newest set of each (Dec 30 is its 15:00 deployment backup);
# weekly (ISO weeks): 2026-W01 and 2025-W52 are already covered by daily sets, then the
# Sundays Dec 21 (its 18:45 set) and Dec 14; monthly: Dec is covered, then the last day
# of each of the 11 months before it.
EXPECTED = {
    *(dt.datetime(2025, 12, day, 2, 30, tzinfo=UTC) for day in (25, 26, 27, 28, 29, 31)),
    dt.datetime(2025, 12, 30, 15, 0, tzinfo=UTC),
    dt.datetime(2025, 12, 21, 18, 45, tzinfo=UTC),
    dt.datetime(2025, 12, 14, 2, 30, tzinfo=UTC),
    *(
        dt.datetime(2025, month, day, 2, 30, tzinfo=UTC)
        for month, day in (
            (1, 31),
            (2, 28),
            (3, 31),
            (4, 30),
            (5, 31),
            (6, 30),
            (7, 31),
            (8, 31),
            (9, 30),
            (10, 31),
            (11, 30),
        )
    ),
}


def test_a_year_keeps_exactly_7_daily_4_weekly_12_monthly_and_the_newest():
    kept = retention.keep(SETS, daily=7, weekly=4, monthly=12)

    assert kept == EXPECTED
    assert max(SETS) in kept
    newest_first = sorted(kept, reverse=True)
    assert len({m.date() for m in newest_first[:7]}) == 7
    assert {m.date() for m in kept} >= {dt.date(2025, 12, d) for d in range(25, 32)}
    assert len({tuple(m.isocalendar())[:2] for m in kept}) >= 4
    assert {(m.year, m.month) for m in kept} == {(2025, month) for month in range(1, 13)}
    # one set per day at most: the newest of that day
    assert len({m.date() for m in kept}) == len(kept)


def test_pruning_every_night_keeps_the_same_sets_as_pruning_once():
    on_disk: list[dt.datetime] = []
    for moment in SETS:  # each night: a new set, then retention
        on_disk.append(moment)
        for gone in retention.expired(on_disk):
            on_disk.remove(gone)
        assert max(on_disk) == moment, "the newest set must survive every prune"
        assert len(on_disk) <= 7 + 4 + 12

    assert set(on_disk) == EXPECTED


def test_zero_counts_still_keep_the_newest_set():
    assert retention.keep(SETS, daily=0, weekly=0, monthly=0) == {max(SETS)}
    assert retention.expired(SETS[:3], 0, 0, 0) == SETS[:2]


def test_a_gap_of_several_weeks_counts_periods_that_have_sets():
    """After an outage, the 7 daily sets are the 7 most recent days that have a set."""
    before = nightly(dt.date(2025, 5, 1), dt.date(2025, 5, 10))
    after = nightly(dt.date(2025, 6, 20), dt.date(2025, 6, 22))
    kept = retention.keep(before + after, daily=7, weekly=0, monthly=0)
    assert {m.date() for m in kept} == {dt.date(2025, 6, d) for d in (20, 21, 22)} | {
        dt.date(2025, 5, d) for d in (7, 8, 9, 10)
    }


@pytest.fixture
def project_with_a_year_of_sets(render, monkeypatch, tmp_path):
    from supabase_ops.project import Project

    monkeypatch.setenv("SUPABASE_INSTANCES_REGISTRY", str(tmp_path / "registry.json"))
    project = Project(render(project_name="retention-shop"))
    for moment in SETS:
        with backupset.SetWriter(project.backup_root(), now=moment) as writer:
            with writer.open("roles.sql") as handle:
                handle.write(b"-- roles\n")
            writer.add("roles.sql", "roles", 9, "0" * 64)
            writer.finish({"project": project.name, "label": "scheduled"})
    return project


def test_prune_deletes_exactly_the_expired_set_folders(project_with_a_year_of_sets):
    from supabase_ops.backup import prune

    project = project_with_a_year_of_sets
    assert len(backupset.list_sets(project.backup_root())) == len(SETS)

    removed = prune(project)

    remaining = backupset.list_sets(project.backup_root())
    assert {s.created for s in remaining} == EXPECTED
    assert len(removed) == len(SETS) - len(EXPECTED)
    assert prune(project) == []  # idempotent


def test_prune_refuses_a_bad_keep_setting(project_with_a_year_of_sets):
    from supabase_ops.backup import prune
    from supabase_ops.project import OpsError

    project = project_with_a_year_of_sets
    env = project.env_file()
    env.set("BACKUP_KEEP_WEEKLY", "four")
    env.write()
    with pytest.raises(OpsError, match=r"BACKUP_KEEP_WEEKLY='four'.*whole number"):
        prune(project)
    assert len(backupset.list_sets(project.backup_root())) == len(SETS)
