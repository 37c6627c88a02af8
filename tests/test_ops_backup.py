"""Backup and restore of databases against a real PostgreSQL, through the same code as production.

The db container path and these tests differ only in the PgClient: ContainerPg builds
`docker compose exec -T db <tool> ...`, HostPg the host's binaries. Dumping, streaming,
hashing, verifying, the atomic set and the restore (roles, drop, pg_restore --create) are
the production functions.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT

SCRIPTS = ROOT / "template" / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

from supabase_ops import backupset, pgclient  # noqa: E402
from supabase_ops.backup import write_database_parts  # noqa: E402
from supabase_ops.project import OpsError  # noqa: E402
from supabase_ops.restore import restore_database_parts, sync_database_with_env  # noqa: E402

pytestmark = pytest.mark.postgres

# Application data shaped like a Supabase project's: a role of the app owning objects,
# RLS, a view, a function, a trigger, sequences, a custom schema, JSON and bytes, a
# publication, database settings, and the internal _supabase database.
APP_SQL = """
CREATE ROLE app_owner LOGIN PASSWORD 'app-owner-password';
CREATE SCHEMA inventory AUTHORIZATION app_owner;
CREATE TABLE public.profiles (
  id uuid PRIMARY KEY, username text UNIQUE, bio text, avatar bytea, settings jsonb, updated_at timestamptz
);
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY "profiles are public" ON public.profiles FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY "own profile" ON public.profiles FOR UPDATE TO authenticated USING (auth.uid() = id);
INSERT INTO auth.users (id, email, role, aud)
  SELECT md5('u' || g)::uuid, 'user' || g || '@example.com', 'authenticated', 'authenticated'
  FROM generate_series(1, 500) g;
INSERT INTO public.profiles
  SELECT md5('u' || g)::uuid, 'user' || g, repeat('bio ', g % 7), decode(md5(g::text), 'hex'),
         jsonb_build_object('theme', CASE WHEN g % 2 = 0 THEN 'dark' ELSE 'light' END, 'n', g),
         '2025-01-01'::timestamptz + g * interval '1 hour'
  FROM generate_series(1, 500) g;
CREATE TABLE inventory.items (id bigserial PRIMARY KEY, name text NOT NULL, qty int CHECK (qty >= 0));
ALTER TABLE inventory.items OWNER TO app_owner;
INSERT INTO inventory.items (name, qty) SELECT 'item ' || g, g % 50 FROM generate_series(1, 2000) g;
CREATE TABLE inventory.audit (at timestamptz DEFAULT now(), item bigint, note text);
ALTER TABLE inventory.audit OWNER TO app_owner;
CREATE FUNCTION inventory.log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO inventory.audit (item, note) VALUES (NEW.id, 'changed'); RETURN NEW; END $$;
ALTER FUNCTION inventory.log_change() OWNER TO app_owner;
CREATE TRIGGER items_audit AFTER UPDATE ON inventory.items
  FOR EACH ROW EXECUTE FUNCTION inventory.log_change();
CREATE VIEW public.stock AS SELECT name, qty FROM inventory.items WHERE qty > 0;
GRANT SELECT ON public.stock TO anon;
ALTER PUBLICATION supabase_realtime ADD TABLE public.profiles;
ALTER DATABASE postgres SET "app.settings.jwt_exp" TO '3600';
CREATE DATABASE _supabase;
"""
SUPABASE_DB_SQL = """
CREATE SCHEMA _supavisor;
CREATE TABLE _supavisor.tenants (external_id text PRIMARY KEY, db_password text);
CREATE TABLE _supavisor.cluster_tenants (tenant_external_id text);
INSERT INTO _supavisor.tenants VALUES ('acme-shop', 'stale'), ('other', 'x');
"""

# A checksum of every row of every table outside the system schemas.
CHECKSUMS_SQL = """
SELECT string_agg(name || '=' || (xpath('/row/c/text()', query_to_xml(format(
    'SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) AS c FROM %s t', '|', '', name),
    false, true, '')))[1]::text, E'\\n' ORDER BY name)
FROM (SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')) tables
"""
OWNERS_SQL = """
SELECT string_agg(entry, ',' ORDER BY entry) FROM (
  SELECT n.nspname || '.' || c.relname || ':' || pg_get_userbyid(c.relowner) || ':' || c.relrowsecurity
    AS entry
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname IN ('public', 'inventory', 'auth') AND c.relkind IN ('r', 'v')) owned
"""


def host_pg(cluster) -> pgclient.HostPg:
    return pgclient.HostPg(cluster.bin, "127.0.0.1", cluster.port, cluster.password)


def snapshot(cluster) -> dict:
    """Everything a restore must bring back: row checksums, owners, policies, settings."""
    return {
        "rows": cluster.psql(CHECKSUMS_SQL),
        "supabase_db": cluster.psql(CHECKSUMS_SQL, database="_supabase"),
        "owners": cluster.psql(OWNERS_SQL),
        "policies": cluster.psql("SELECT string_agg(policyname, ',' ORDER BY policyname) FROM pg_policies"),
        "trigger": cluster.psql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"),
        "publication": cluster.psql(
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_publication_tables"
        ),
        "settings": cluster.psql(
            "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s "
            "JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'postgres' AND s.setrole = 0"
        ),
        "grants": cluster.psql("SELECT has_table_privilege('anon', 'public.stock', 'SELECT')"),
    }


@pytest.fixture
def source(supabase_cluster):
    supabase_cluster.psql(APP_SQL)
    supabase_cluster.psql(SUPABASE_DB_SQL, database="_supabase")
    return supabase_cluster


@pytest.fixture
def second_cluster():
    """A second fresh cluster with the image's roles and schemas: another instance."""
    from pgcluster import throwaway_cluster

    with throwaway_cluster("second-superuser-password") as cluster:
        cluster.bootstrap_supabase()
        yield cluster


def make_set(cluster, root: Path) -> backupset.BackupSet:
    with backupset.SetWriter(root) as writer:
        write_database_parts(host_pg(cluster), writer, quiet=True)
        return writer.finish({"project": "acme-shop", "label": "test"})


def test_a_set_is_complete_private_and_verified(source, tmp_path):
    backup_set = make_set(source, tmp_path / "backups" / "acme-shop")

    manifest = backup_set.manifest
    files = {part["file"]: part for part in manifest["parts"]}
    assert set(files) == {"roles.sql", "db-postgres.dump", "db-_supabase.dump"}
    assert files["db-postgres.dump"]["toc_entries"] > 20  # pg_restore --list read it
    assert backupset.verify(backup_set) == []
    assert (backup_set.path.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in backup_set.path.iterdir())
    assert [s.name for s in backupset.list_sets(backup_set.path.parent)] == [backup_set.name]
    assert not [p for p in backup_set.path.parent.iterdir() if p.name.endswith(".partial")]
    # the roles file holds the app role's password only as a hash
    roles = (backup_set.path / "roles.sql").read_text()
    assert "app_owner" in roles and "app-owner-password" not in roles


def test_round_trip_into_another_instance_restores_every_table(source, second_cluster, tmp_path):
    expected = snapshot(source)
    backup_set = make_set(source, tmp_path / "backups")

    created, errors = restore_database_parts(host_pg(second_cluster), backup_set, quiet=True)

    assert errors == []
    assert created == ["app_owner"]  # the image's roles existed already and were kept
    assert snapshot(second_cluster) == expected
    # kept roles keep the target's passwords (the superuser's differs between the clusters);
    # the created role logs in with the password it had in the source
    assert second_cluster.psql("SELECT current_user").strip() == "supabase_admin"
    env = second_cluster.env(user="app_owner", password="app-owner-password")
    login = subprocess.run(
        [str(second_cluster.bin / "psql"), "-X", "-A", "-t", "-c", "SELECT current_user"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert login.stdout.strip() == "app_owner"


def test_restore_into_the_same_live_instance_replaces_changed_data(source, tmp_path):
    """The real case: the instance is initialised, connected to, has a logical slot, and its
    data changed after the backup. The restore brings back exactly the backed-up state."""
    source.psql("ALTER SYSTEM SET wal_level = logical")
    subprocess.run(  # the log file keeps the server off our pipes
        [
            *source.run_as,
            str(source.bin / "pg_ctl"),
            "-D",
            str(source.data),
            "-l",
            str(source.base / "log"),
            "-w",
            "restart",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    expected = snapshot(source)
    backup_set = make_set(source, tmp_path / "backups")

    source.psql(
        "SELECT pg_create_logical_replication_slot('realtime_slot', 'pgoutput');"
        "DELETE FROM public.profiles WHERE username LIKE 'user1%';"
        "UPDATE inventory.items SET qty = qty + 1 WHERE id < 100;"
        "DROP VIEW public.stock; CREATE TABLE public.added_later (x int);"
        "ALTER DATABASE postgres SET \"app.settings.jwt_exp\" TO '60';"
    )
    holder = subprocess.Popen(  # a client holding a connection, as a running service would
        [str(source.bin / "psql"), "-X", "-c", "SELECT pg_sleep(60)"],
        env=source.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        created, errors = restore_database_parts(host_pg(source), backup_set, quiet=True)
    finally:
        holder.kill()
        holder.wait()

    assert errors == [] and created == []
    assert snapshot(source) == expected
    assert source.psql("SELECT to_regclass('public.added_later') IS NULL").strip() == "t"
    assert source.psql("SELECT count(*) FROM pg_replication_slots").strip() == "0"


def test_database_settings_follow_the_instances_env_after_a_restore(source, second_cluster, tmp_path):
    from supabase_ops.project import Project

    backup_set = make_set(source, tmp_path / "backups")
    pg = host_pg(second_cluster)
    restore_database_parts(pg, backup_set, quiet=True)

    class EnvOnly(Project):  # only the env matters to sync_database_with_env
        def __init__(self, values):
            self.values = values

        @property
        def env(self):
            return self.values

    sync_database_with_env(
        pg,
        EnvOnly({"JWT_SECRET": "target-jwt-secret-0123456789abcdef", "POOLER_TENANT_ID": "acme-shop"}),
        ["postgres", "_supabase"],
    )
    settings = second_cluster.psql(
        "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s "
        "JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'postgres'"
    )
    assert "app.settings.jwt_secret=target-jwt-secret-0123456789abcdef" in settings
    tenants = second_cluster.psql("SELECT string_agg(external_id, ',') FROM _supavisor.tenants", "_supabase")
    assert tenants.strip() == "other"  # the stale tenant is gone; pooler.exs recreates it


def test_a_failing_backup_leaves_no_set_and_no_partial(source, tmp_path):
    root = tmp_path / "backups"
    wrong = pgclient.HostPg(source.bin, "127.0.0.1", source.port, "not-the-password")

    with pytest.raises(OpsError, match="pg_dumpall --roles-only failed"), backupset.SetWriter(root) as writer:
        write_database_parts(wrong, writer, quiet=True)
        writer.finish({})

    assert backupset.list_sets(root) == []
    assert [p.name for p in root.iterdir()] == [".lock"]


def test_an_exception_midway_leaves_nothing_that_looks_complete(source, tmp_path):
    root = tmp_path / "backups"
    with pytest.raises(RuntimeError, match="disk full"), backupset.SetWriter(root) as writer:
        write_database_parts(host_pg(source), writer, quiet=True)
        raise RuntimeError("disk full")
    assert backupset.list_sets(root) == []
    assert [p.name for p in root.iterdir()] == [".lock"]


KILLED_CHILD = """
import sys, time
from pathlib import Path
sys.path.insert(0, {scripts!r})
from supabase_ops import backupset, pgclient

pg = pgclient.HostPg(Path({bin!r}), "127.0.0.1", {port}, {password!r})
marker = Path({marker!r})

def stall(done):
    marker.write_text(str(done))
    time.sleep(3600)  # the test kills us here, mid-dump

with backupset.SetWriter(Path({root!r})) as writer:
    with writer.open("db-postgres.dump") as handle:
        pgclient.dump_database(pg, "postgres", handle, stall)
"""


def test_a_killed_backup_leaves_no_complete_set_and_the_next_one_cleans_up(source, tmp_path):
    root, marker = tmp_path / "backups", tmp_path / "dumping"
    script = KILLED_CHILD.format(
        scripts=str(SCRIPTS),
        bin=str(source.bin),
        port=source.port,
        password=source.password,
        marker=str(marker),
        root=str(root),
    )
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)])
    try:
        for _ in range(600):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.05)
        assert marker.exists(), "the child never started dumping"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()

    leftovers = [p.name for p in root.iterdir() if p.name != ".lock"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".partial") and leftovers[0].startswith(".")
    assert backupset.list_sets(root) == []

    backup_set = make_set(source, root)

    assert [s.name for s in backupset.list_sets(root)] == [backup_set.name]
    assert [p.name for p in root.iterdir() if p.name != ".lock"] == [backup_set.name]


def test_a_corrupted_set_fails_verification_and_is_not_restored(source, tmp_path):
    from supabase_ops.restore import drill, restore

    backup_set = make_set(source, tmp_path / "backups")
    dump = backup_set.path / "db-postgres.dump"
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))

    problems = backupset.verify(backup_set)
    assert problems == ["db-postgres.dump does not match its checksum in the manifest (corrupted or changed)"]
    # both refuse before touching any instance (the project is never used)
    for action in (lambda: restore(None, backup_set), lambda: drill(None, backup_set)):
        with pytest.raises(OpsError, match="failed verification"):
            action()
    manifest = json.loads((backup_set.path / "manifest.json").read_text())
    (backup_set.path / manifest["parts"][0]["file"]).unlink()
    assert "roles.sql is missing" in backupset.verify(backup_set)


def test_a_damaged_dump_is_caught_by_pg_restore_list(source, tmp_path):
    path = tmp_path / "not-a-dump"
    path.write_bytes(b"PGDMP but not really")
    with pytest.raises(OpsError, match="not a readable pg_dump archive"):
        pgclient.verify_dump(host_pg(source), path)


def test_roles_the_target_has_are_kept_and_missing_ones_created():
    dump = textwrap.dedent(
        '''\
        SET default_transaction_read_only = off;
        CREATE ROLE anon;
        ALTER ROLE anon WITH NOSUPERUSER INHERIT NOLOGIN;
        CREATE ROLE authenticator;
        ALTER ROLE authenticator WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:old';
        CREATE ROLE "Report ""Team""";
        ALTER ROLE "Report ""Team""" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:new';
        COMMENT ON ROLE "Report ""Team""" IS 'analysts';
        GRANT anon TO authenticator GRANTED BY supabase_admin;
        '''
    )
    sql, created = pgclient.missing_roles_sql(dump, existing=["anon", "authenticator", "supabase_admin"])
    assert created == ['Report "Team"']
    assert "old" not in sql and "ALTER ROLE anon" not in sql
    assert 'CREATE ROLE "Report ""Team""";' in sql and "COMMENT ON ROLE" in sql
    assert "GRANT anon TO authenticator" in sql
