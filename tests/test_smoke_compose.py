"""Compose tier: two rendered instances running side by side on a real Docker engine.

The generated compose files run unchanged, through each project's own docker/.env; only
the images are swapped for local test builds (tests/docker/compose.standins.yml): a real
PostgreSQL booting like supabase/postgres, the real Caddy, Redis, and a named HTTP
stand-in for the services that have no Debian build. See tests/standins/smoke.py.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import subprocess
import time
import uuid

import psycopg
import pytest
from psycopg import errors
from standins.smoke import SESSION_PROJECTS, Hidden, SmokeStack, free_port, override_ports
from supabase_ops.ports import PORT_TABLE, PRODUCTION_PORTS, published

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LOGIN_ROLES = (
    "authenticator",
    "pgbouncer",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_functions_admin",
)


def fetch(port: int, path: str, host: str, headers: dict[str, str] | None = None, method: str = "GET"):
    """One request to 127.0.0.1:port with this Host header; returns (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request(method, path, headers={"Host": host, **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": Hidden("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())}


def connect(stack: SmokeStack, user: str, password: str | None = None, dbname: str = ""):
    return psycopg.connect(
        host="127.0.0.1",
        port=stack.port("POSTGRES_HOST_PORT"),
        user=user,
        password=stack.env["POSTGRES_PASSWORD"] if password is None else password,
        dbname=dbname or stack.env["POSTGRES_DB"],
        connect_timeout=10,
    )


def enabled_parts(stack: SmokeStack) -> set[str]:
    services = set(stack.services())
    return {part for part in ("minio", "redis") if part in services}


# ---------------------------------------------------------------------------- the stacks
def test_every_service_of_both_instances_is_healthy(smoke_instances):
    for stack in smoke_instances:
        containers = {c["Service"]: c for c in stack.containers()}
        assert set(containers) == set(stack.services()), f"{stack.name}: services without a container"
        for service, container in containers.items():
            if service == "minio-init":  # one-shot: created the bucket, then exited
                assert container["State"] == "exited" and container["ExitCode"] == 0, container["Status"]
            else:
                assert (container["State"], container["Health"]) == ("running", "healthy"), (
                    f"{stack.name} {service}: {container['Status']}"
                )


def test_instances_share_no_container_volume_or_network(smoke_instances):
    owned = {}
    for stack in smoke_instances:
        label = f"label=com.docker.compose.project={stack.name}"
        containers = subprocess.run(
            ["docker", "ps", "-a", "--filter", label, "--format", "{{.Names}}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", label], capture_output=True, text=True
        ).stdout.split()
        networks = subprocess.run(
            ["docker", "network", "ls", "--filter", label, "--format", "{{.Name}}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        assert containers and volumes and networks
        assert all(name.startswith(f"{stack.name}_") for name in containers + volumes + networks)
        assert f"{stack.name}_db-data" in volumes
        # Every container is on its own instance's network only.
        for service in stack.services():
            attached = set(stack.inspect(service)["NetworkSettings"]["Networks"])
            assert attached == set(networks), f"{stack.name} {service} is on {attached}"
        owned[stack.name] = set(containers), set(volumes), set(networks)
    (c1, v1, n1), (c2, v2, n2) = owned.values()
    assert not (c1 & c2) and not (v1 & v2) and not (n1 & n2)


def test_every_published_port_is_where_the_port_table_says(smoke_instances):
    for stack in smoke_instances:
        offset = int(stack.env["PORT_OFFSET"])
        expected = {
            (p.service, p.container_port, p.protocol, "127.0.0.1", p.host_port(offset))
            for p in published(offset, enabled_parts(stack))
        }
        actual = stack.published_ports()
        assert actual == expected, f"{stack.name}: published ports differ from supabase_ops.ports"
        # docker/.env, which the compose files read, holds the same numbers.
        for port in published(offset, enabled_parts(stack)):
            assert stack.port(port.variable) == port.host_port(offset)


# ---------------------------------------------------------------------------- Caddy in front
def test_caddy_sends_api_paths_to_the_gateway(smoke_instances):
    for stack in smoke_instances:
        port, host = stack.port("CADDY_HTTP_PORT"), stack.env["API_DOMAIN"]
        status, headers, body = fetch(
            port, "/rest/v1/notes?select=id", host, {"apikey": stack.env["ANON_KEY"]}
        )
        assert status == 200
        answer = json.loads(body)
        # Caddy -> the gateway (the rendered kong.yml: key-auth, anon consumer) -> rest.
        assert (answer["service"], answer["path"], answer["consumer"]) == ("rest", "/notes", "anon")
        assert headers["X-Standin-Service"] == "rest"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "camera=()" in headers["Permissions-Policy"]
        assert "Server" not in headers

        status, _, body = fetch(port, "/rest/v1/notes", host)
        assert status == 401 and b"No API key" in body
        status, _, _ = fetch(port, "/pg/tables", host, {"apikey": stack.env["ANON_KEY"]})
        assert status == 403, "postgres-meta must need the service_role key"
        status, _, body = fetch(port, "/pg/tables", host, {"apikey": stack.env["SERVICE_ROLE_KEY"]})
        assert status == 200 and json.loads(body)["service"] == "meta"
        # Anything outside the API surface stops at Caddy.
        status, headers, _ = fetch(port, "/", host)
        assert status == 404 and "X-Standin-Service" not in headers


def test_each_caddy_reaches_only_its_own_instance(smoke_instances):
    one, two = smoke_instances
    key = one.env["ANON_KEY"]
    assert key != two.env["ANON_KEY"]
    status, _, _ = fetch(
        two.port("CADDY_HTTP_PORT"), "/rest/v1/notes", two.env["API_DOMAIN"], {"apikey": key}
    )
    assert status == 401, "instance two's gateway accepted instance one's key"


def test_gateway_applies_the_rendered_kong_config(smoke_instances):
    """kong-entrypoint.sh rendered kong.yml with the real secrets; the stand-in gateway applies it."""
    for stack in smoke_instances:
        port, host = stack.port("KONG_HTTP_PORT"), "localhost"
        for key, consumer in (
            ("SUPABASE_PUBLISHABLE_KEY", "anon"),
            ("SUPABASE_SECRET_KEY", "service_role"),
            ("SERVICE_ROLE_KEY", "service_role"),
        ):
            status, _, body = fetch(port, "/auth/v1/settings", host, {"apikey": stack.env[key]})
            assert status == 200 and json.loads(body)["consumer"] == consumer, key
        status, _, _ = fetch(port, "/pg/tables", host, {"apikey": stack.env["SUPABASE_SECRET_KEY"]})
        assert status == 200, "the secret key must reach postgres-meta as service_role"
        # Studio through the gateway: Kong's basic-auth with the dashboard credentials.
        user, password = stack.env["DASHBOARD_USERNAME"], stack.env["DASHBOARD_PASSWORD"]
        assert fetch(port, "/", host)[0] == 401
        status, _, body = fetch(port, "/", host, basic_auth(user, password))
        assert status == 200 and json.loads(body)["service"] == "studio"


def test_realtime_alias_resolves_inside_its_own_instance(smoke_instances):
    """Kong reaches Realtime as realtime-dev.realtime: each instance must resolve its own."""
    addresses = []
    for stack in smoke_instances:
        (network,) = stack.inspect("realtime")["NetworkSettings"]["Networks"].values()
        done = stack.compose("exec", "-T", "kong", "getent", "hosts", "realtime-dev.realtime")
        assert done.stdout.split()[0] == network["IPAddress"]
        addresses.append(network["IPAddress"])
    assert addresses[0] != addresses[1]


def test_studio_needs_the_dashboard_credentials(smoke_instances):
    for stack in smoke_instances:
        port, host = stack.port("CADDY_HTTP_PORT"), stack.env["STUDIO_DOMAIN"]
        user, password = stack.env["DASHBOARD_USERNAME"], stack.env["DASHBOARD_PASSWORD"]
        status, headers, _ = fetch(port, "/", host)
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        status, _, _ = fetch(port, "/", host, basic_auth(user, password + "x"))
        assert status == 401
        status, headers, body = fetch(port, "/project/default", host, basic_auth(user, password))
        assert status == 200 and json.loads(body)["service"] == "studio"
        assert headers["X-Frame-Options"] == "DENY"


def https_get(port: int, host: str, path: str, cafile: str):
    """GET over TLS to 127.0.0.1:port with SNI `host`, verifying the certificate for `host`."""
    context = ssl.create_default_context(cafile=cafile)
    connection = http.client.HTTPConnection(host, port, timeout=15)
    connection.sock = context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=15), server_hostname=host
    )
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


def test_caddy_serves_https_with_its_local_ca(smoke_instances, tmp_path):
    stack = smoke_instances[0]
    root_ca = tmp_path / "root.crt"
    host = stack.env["API_DOMAIN"]
    answer = None
    for _ in range(30):  # Caddy creates its local CA and the site certificates just after start
        done = stack.compose(
            "exec", "-T", "caddy", "cat", "/data/caddy/pki/authorities/local/root.crt", check=False
        )
        if "BEGIN CERTIFICATE" in done.stdout:
            root_ca.write_text(done.stdout)
            try:
                answer = https_get(stack.port("CADDY_HTTPS_PORT"), host, "/auth/v1/verify", str(root_ca))
                break
            except (ssl.SSLError, ConnectionError):
                pass
        time.sleep(1)
    assert answer is not None, "no verified HTTPS answer from Caddy within 30 s"
    status, headers, _ = answer
    assert status == 200 and headers["X-Standin-Service"] == "auth"


# ---------------------------------------------------------------------------- the database
def test_supabase_roles_log_in_with_the_generated_password(smoke_instances):
    for stack in smoke_instances:
        for role in (*LOGIN_ROLES, "supabase_admin"):
            with connect(stack, role) as connection:
                assert connection.execute("select current_user").fetchone()[0] == role
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(stack, "authenticator", password="not-the-password")
    one, two = smoke_instances
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(two, "authenticator", password=one.env["POSTGRES_PASSWORD"])


def test_init_sql_ran_on_first_boot(smoke_instances):
    stack = smoke_instances[0]
    with connect(stack, "supabase_admin") as connection:
        setting = connection.execute("select current_setting('app.settings.jwt_exp')").fetchone()[0]
        assert setting == stack.env["JWT_EXPIRY"]
        assert connection.execute("select 1 from pg_database where datname = '_supabase'").fetchone()
        assert connection.execute("select to_regnamespace('_realtime')").fetchone()[0] == "_realtime"
        assert connection.execute("show wal_level").fetchone()[0] == "logical"
        assert "pg_stat_statements" in connection.execute("show shared_preload_libraries").fetchone()[0]
        extensions = {row[0] for row in connection.execute("select extname from pg_extension")}
        assert {"pg_net", "pgcrypto", "uuid-ossp", "pg_stat_statements"} <= extensions
        assert connection.execute("select to_regclass('supabase_functions.hooks')").fetchone()[0]
        assert connection.execute(
            "select relrowsecurity from pg_class where oid = 'public.notes'::regclass"
        ).fetchone()[0]
    with connect(stack, "supabase_admin", dbname="_supabase") as connection:
        assert connection.execute("select to_regnamespace('_supavisor')").fetchone()[0] == "_supavisor"


def test_row_level_security_of_the_example_table(smoke_instances):
    stack = smoke_instances[0]
    alice, bob = uuid.uuid4(), uuid.uuid4()
    with connect(stack, "postgres") as connection:
        for user in (alice, bob):
            connection.execute(
                "insert into auth.users (id, aud, role, email)"
                " values (%s, 'authenticated', 'authenticated', %s)",
                (user, f"{user}@example.com"),
            )
            connection.execute(
                "insert into public.notes (user_id, body) values (%s, %s)", (user, f"note of {user}")
            )
        connection.commit()

    def as_user(connection, role: str, user: uuid.UUID | None = None):
        connection.execute(f"set local role {role}")
        claims = {"role": role, **({"sub": str(user)} if user else {})}
        connection.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))

    # PostgREST connects as authenticator and switches to the role of the request's JWT.
    with connect(stack, "authenticator") as connection:
        with connection.transaction():
            as_user(connection, "authenticated", alice)
            rows = connection.execute("select user_id, body from public.notes").fetchall()
            assert rows == [(alice, f"note of {alice}")]
            connection.execute(
                "insert into public.notes (body) values ('mine')"
            )  # user_id defaults to auth.uid()
        with pytest.raises(errors.InsufficientPrivilege), connection.transaction():
            as_user(connection, "authenticated", alice)
            connection.execute("insert into public.notes (user_id, body) values (%s, 'forged')", (bob,))
        with pytest.raises(errors.InsufficientPrivilege), connection.transaction():
            as_user(connection, "anon")
            connection.execute("select * from public.notes")
        with connection.transaction():
            as_user(connection, "service_role")
            assert connection.execute("select count(*) from public.notes").fetchone()[0] >= 3


def test_instances_keep_separate_data(smoke_instances):
    one, two = smoke_instances
    marker = f"isolation-{uuid.uuid4()}"
    with connect(one, "postgres") as connection:
        connection.execute("create table if not exists public.smoke_isolation (marker text)")
        connection.execute("insert into public.smoke_isolation values (%s)", (marker,))
    with connect(two, "postgres") as connection:
        assert connection.execute("select to_regclass('public.smoke_isolation')").fetchone()[0] is None


# ---------------------------------------------------------------------------- production
def test_production_render_publishes_only_caddy(render, standin_images, request):
    project = render(
        project_name=SESSION_PROJECTS[2],
        environment="production",
        domain="smoke.example.com",
        port_offset=200,
    )
    stack = SmokeStack(project)
    config = json.loads(stack.compose("config", "--format", "json", files=stack.base_files()).stdout)
    published_ports = {
        (name, int(port["published"]), port["target"], port.get("protocol", "tcp"))
        for name, service in config["services"].items()
        for port in service.get("ports", [])
    }
    assert published_ports == {("caddy", port, port, protocol) for port, protocol in PRODUCTION_PORTS}
    assert "caddy" in [p.service for p in PORT_TABLE]

    # Really run it, with Caddy's 80/443 remapped to free loopback ports for the test.
    http_port, https_port = free_port(), free_port()
    remapped = override_ports(f"127.0.0.1:{http_port}:80", f"127.0.0.1:{https_port}:443")
    stack = SmokeStack(project, extra_override={"caddy": {"ports": remapped}})
    request.addfinalizer(stack.down)
    stack.up()
    publishing = {
        service
        for service in stack.services()
        if any((stack.inspect(service)["NetworkSettings"]["Ports"] or {}).values())
    }
    assert publishing == {"caddy"}
    # Production Caddy sends plain HTTP to HTTPS (automatic HTTPS), with HSTS on the TLS site.
    status, headers, _ = fetch(http_port, "/rest/v1/notes", stack.env["API_DOMAIN"])
    assert status in (301, 308) and headers["Location"].startswith(f"https://{stack.env['API_DOMAIN']}")
