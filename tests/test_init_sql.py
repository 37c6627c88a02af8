"""The database init SQL runs on a real PostgreSQL, as the supabase/postgres image runs it.

The cluster starts with tests/standins/postgres/supabase-bootstrap.sql (what the image creates
before any project file runs) and the stand-in extensions of tests/standins/postgres/extensions
(pg_net, pg_graphql, pgjwt, pgsodium, which Debian's PostgreSQL lacks). The project's files then
run in the order and as the users the image uses: its mounts in docker-compose.yml decide which
stage (init-scripts as postgres, migrations as supabase_admin) and which order (file name).
"""

from __future__ import annotations

import filecmp
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from stack import compose_config, env_values

STANDIN_EXTENSIONS = Path(__file__).parent / "standins" / "postgres" / "extensions"
LOGIN_ROLES = (
    "authenticator",
    "pgbouncer",
    "supabase_auth_admin",
    "supabase_functions_admin",
    "supabase_storage_admin",
)
EXPECTED_EXTENSIONS = {
    17: {"uuid-ossp", "pgcrypto", "pg_stat_statements", "pg_net", "pg_graphql"},
    15: {"uuid-ossp", "pgcrypto", "pg_stat_statements", "pg_net", "pg_graphql", "pgjwt", "pgsodium"},
}

pytestmark = pytest.mark.postgres


def install_standin_extensions(cluster) -> None:
    """Copy the stand-ins into the server's extension directory (root on CI), or skip."""
    sharedir = subprocess.run(
        [str(cluster.bin / "pg_config"), "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    target = Path(sharedir) / "extension"
    for source in sorted(STANDIN_EXTENSIONS.iterdir()):
        installed = target / source.name
        if installed.exists() and filecmp.cmp(source, installed, shallow=False):
            continue
        try:
            shutil.copyfile(source, installed)
        except PermissionError:
            pytest.skip(
                f"cannot install the stand-in extensions into {target} (not writable; CI runs as root)"
            )


def init_files(project: Path) -> list[tuple[str, Path]]:
    """(stage, file) in the order the image runs them: init-scripts, then migrations, by name."""
    volumes = compose_config(project, "local")["services"]["db"]["volumes"]
    mounted = []
    for volume in volumes:
        target = volume["target"]
        if target.startswith("/docker-entrypoint-initdb.d/"):
            stage, name = target.removeprefix("/docker-entrypoint-initdb.d/").split("/")
            mounted.append((("init-scripts", "migrations").index(stage), name, stage, Path(volume["source"])))
    return [(stage, source) for _, _, stage, source in sorted(mounted)]


def init_database(cluster, project: Path) -> dict[str, str]:
    """Run the project's init SQL on the cluster; returns the project's .env values."""
    install_standin_extensions(cluster)
    env = env_values(project)
    # The image lets its entrypoint in as postgres over the socket; the test cluster wants a password.
    cluster.psql(f"ALTER ROLE postgres PASSWORD '{cluster.password}'")
    sql_env = {
        "POSTGRES_PASSWORD": env["POSTGRES_PASSWORD"],
        "JWT_SECRET": env["JWT_SECRET"],
        "JWT_EXP": env["JWT_EXPIRY"],
        "POSTGRES_USER": "supabase_admin",
    }
    files = init_files(project)
    assert [stage for stage, _ in files].count("init-scripts") >= 3 and len(files) >= 8, files
    for stage, path in files:
        user = "postgres" if stage == "init-scripts" else "supabase_admin"
        try:
            cluster.psql(path.read_text(), env_extra=sql_env, user=user)
        except AssertionError as error:
            raise AssertionError(f"{stage}/{path.name} failed as {user}: {error}") from None
    return env


@pytest.fixture(scope="module")
def projects(render) -> dict[int, Path]:
    return {
        version: render(project_name=f"sql-pg{version}", postgres_version=version) for version in (15, 17)
    }


@pytest.mark.parametrize("version", [17, 15])
def test_init_sql_builds_the_database(supabase_cluster, projects, version: int):
    env = init_database(supabase_cluster, projects[version])
    password = env["POSTGRES_PASSWORD"]
    for role in LOGIN_ROLES:
        with psycopg.connect(supabase_cluster.dsn(user=role, password=password)) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role

    with psycopg.connect(supabase_cluster.dsn()) as conn:
        settings = conn.execute(
            "SELECT current_setting('app.settings.jwt_secret'), current_setting('app.settings.jwt_exp')"
        ).fetchone()
        secret_matches = settings[0] == env["JWT_SECRET"]  # compared apart: a failure never prints it
        assert secret_matches, "app.settings.jwt_secret is not docker/.env's JWT_SECRET"
        assert settings[1] == env["JWT_EXPIRY"]
        owners = dict(
            conn.execute(
                "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace"
                " WHERE nspname IN ('_realtime', 'supabase_functions')"
            ).fetchall()
        )
        assert owners == {
            "_realtime": "supabase_admin",
            "supabase_functions": "supabase_functions_admin",
        }
        extensions = {row[0] for row in conn.execute("SELECT extname FROM pg_extension")}
        assert EXPECTED_EXTENSIONS[version] <= extensions
        schemas = dict(
            conn.execute("SELECT extname, extnamespace::regnamespace::text FROM pg_extension").fetchall()
        )
        assert {schemas[name] for name in ("uuid-ossp", "pgcrypto", "pg_stat_statements", "pg_net")} == {
            "extensions"
        }
        functions = {
            row[0]
            for row in conn.execute(
                "SELECT p.proname || ':' || pg_get_userbyid(p.proowner) FROM pg_proc p"
                " WHERE p.pronamespace = 'supabase_functions'::regnamespace"
            )
        }
        assert functions == {"http_request:supabase_functions_admin"}
        tables = {
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'supabase_functions'")
        }
        assert tables == {"hooks", "migrations"}
        assert conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '_supabase'"
        ).fetchone() == ("supabase_admin",)
        # /graphql/v1 reaches graphql_public.graphql(): it must now answer through pg_graphql.
        conn.execute("SET ROLE anon")
        answer = conn.execute("SELECT graphql_public.graphql(query := '{ __typename }')").fetchone()
        assert "stand-in" in answer[0]["errors"][0]["message"]
    with psycopg.connect(supabase_cluster.dsn(database="_supabase")) as conn:
        # _analytics only comes with the log stack (enable_logs, off by default).
        assert internal_schemas(conn) == {"_supavisor": "supabase_admin"}


def internal_schemas(conn: psycopg.Connection) -> dict[str, str]:
    """The platform schemas of the _supabase database and their owners."""
    rows = conn.execute(
        "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace"
        " WHERE nspname IN ('_supavisor', '_analytics')"
    ).fetchall()
    return dict(rows)


def test_log_store_is_in_the_internal_database(supabase_cluster, render):
    """With enable_logs, Logflare's schema _analytics exists in _supabase, owned by supabase_admin."""
    project = render(project_name="sql-logs", enable_logs=True)
    names = [path.name for _, path in init_files(project)]
    assert names.index("_supabase.sql") < names.index("logs.sql"), "logs.sql runs before _supabase exists"
    init_database(supabase_cluster, project)
    with psycopg.connect(supabase_cluster.dsn(database="_supabase")) as conn:
        assert internal_schemas(conn) == {"_supavisor": "supabase_admin", "_analytics": "supabase_admin"}
    with psycopg.connect(supabase_cluster.dsn()) as conn:
        assert internal_schemas(conn) == {}, (
            "the log store belongs in _supabase, not the application's database"
        )


def api_session(cluster, password: str, role: str, user_id: str | None = None) -> psycopg.Connection:
    """A connection acting like PostgREST: log in as authenticator, switch to the JWT's role."""
    conn = psycopg.connect(cluster.dsn(user="authenticator", password=password), autocommit=True)
    claims = {"role": role, **({"sub": user_id} if user_id else {})}
    conn.execute("SELECT set_config('request.jwt.claims', %s, false)", [json.dumps(claims)])
    conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role)))
    return conn


def test_rls_example_isolates_users(supabase_cluster, projects):
    env = init_database(supabase_cluster, projects[17])
    password = env["POSTGRES_PASSWORD"]
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    with psycopg.connect(supabase_cluster.dsn(), autocommit=True) as admin:
        for user_id, email in ((alice, "alice@example.com"), (bob, "bob@example.com")):
            admin.execute(
                "INSERT INTO auth.users (id, email, role) VALUES (%s, %s, 'authenticated')", [user_id, email]
            )
        admin.execute(
            "INSERT INTO public.notes (user_id, body) VALUES (%s, 'alice 1'), (%s, 'bob 1')", [alice, bob]
        )

    with api_session(supabase_cluster, password, "anon") as anon:
        # No grant at all: PostgREST answers anonymous requests with 401, never with rows.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            anon.execute("SELECT count(*) FROM public.notes")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            anon.execute("INSERT INTO public.notes (user_id, body) VALUES (%s, 'spam')", [alice])

    with api_session(supabase_cluster, password, "authenticated", alice) as session:
        assert session.execute("SELECT body FROM public.notes ORDER BY id").fetchall() == [("alice 1",)]
        session.execute(
            "INSERT INTO public.notes (body) VALUES ('alice 2')"
        )  # user_id defaults to auth.uid()
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            session.execute("INSERT INTO public.notes (user_id, body) VALUES (%s, 'forged')", [bob])
        assert (
            session.execute("UPDATE public.notes SET body = 'hacked' WHERE user_id = %s", [bob]).rowcount == 0
        )
        assert session.execute("DELETE FROM public.notes WHERE user_id = %s", [bob]).rowcount == 0
        assert (
            session.execute("UPDATE public.notes SET body = 'alice 1b' WHERE body = 'alice 1'").rowcount == 1
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            session.execute("UPDATE public.notes SET user_id = %s WHERE body = 'alice 2'", [bob])

    with psycopg.connect(supabase_cluster.dsn()) as admin:
        rows = admin.execute("SELECT body, user_id::text FROM public.notes ORDER BY id").fetchall()
    assert rows == [("alice 1b", alice), ("bob 1", bob), ("alice 2", alice)]


def test_database_webhook_queues_the_request(supabase_cluster, projects):
    """supabase_functions.http_request(), as Studio's Database Webhooks wire it, reaches pg_net."""
    init_database(supabase_cluster, projects[17])
    with psycopg.connect(supabase_cluster.dsn(user="postgres"), autocommit=True) as conn:
        conn.execute("CREATE TABLE public.orders (id int PRIMARY KEY, total numeric)")
        conn.execute(
            "CREATE TRIGGER order_created AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION"
            " supabase_functions.http_request('https://hooks.example.com/orders', 'POST',"
            " '{\"Content-Type\":\"application/json\"}', '{}', '1000')"
        )
        conn.execute("INSERT INTO public.orders VALUES (7, 19.90)")
        method, url, body = conn.execute(
            "SELECT method, url, convert_from(body, 'UTF8')::jsonb FROM net.http_request_queue"
        ).fetchone()
        hooks = conn.execute(
            "SELECT hook_name, request_id IS NOT NULL FROM supabase_functions.hooks"
        ).fetchall()
    assert (method, url) == ("POST", "https://hooks.example.com/orders")
    assert (
        body["type"] == "INSERT" and body["table"] == "orders" and body["record"] == {"id": 7, "total": 19.90}
    )
    assert hooks == [("order_created", True)]
