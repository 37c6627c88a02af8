"""health_check.py: is every service of this instance answering, and how fast?

Each check is a Probe: a name, a target for display, and a function that returns
(ok, detail). The runner starts all probes at once in threads, so a check takes as
long as its slowest probe. HTTP services are probed straight at their container
address (Linux hosts route to Docker's bridge networks), so nothing needs to be
published and no tool has to exist in the images; the database is asked with
pg_isready inside its container, Redis with PING over its protocol.
"""

from __future__ import annotations

import argparse
import socket
import time
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from . import cli
from .project import OpsError, Project

DESCRIPTION = """\
Probe every service of this instance concurrently and print a status table with the
latency of each probe. Exit code 0 when everything is healthy, 1 otherwise.

  --production   also probe https://API_DOMAIN and https://STUDIO_DOMAIN and the
                 certificate's days to expiry
  --metrics      add database connections, slowest statements (pg_stat_statements),
                 database and volume sizes, container CPU and memory
  --json         the same as JSON, for monitoring
"""

DEFAULT_TIMEOUT = 5.0
MIN_CERT_DAYS = 14

# How each service of the stack is probed: (kind, port, path). Services not listed here
# (one-shot jobs such as minio-init) are not probed.
SERVICE_PROBES: dict[str, tuple[str, int, str]] = {
    "db": ("pg_isready", 5432, ""),
    "auth": ("http", 9999, "/health"),
    "rest": ("http-any", 3000, "/"),  # any answer below 500: PostgREST serves and reaches the db
    "realtime": ("http-anon", 4000, "/api/tenants/realtime-dev/health"),
    "storage": ("http", 5000, "/status"),
    "imgproxy": ("http", 5001, "/health"),
    "meta": ("http", 8080, "/health"),
    "supavisor": ("http", 4000, "/api/health"),
    "studio": ("http", 3000, "/api/platform/profile"),
    "kong": ("http-any", 8000, "/"),  # Kong answers 404 on / when it routes at all
    "functions": ("tcp", 9000, ""),
    "minio": ("http", 9000, "/minio/health/live"),
    "redis": ("redis", 6379, ""),
    "caddy": ("http-any", 80, "/"),
    "analytics": ("http", 4000, "/health"),  # Logflare, with enable_logs
    "vector": ("http", 9001, "/health"),  # Vector's API, with enable_logs
}


@dataclass
class Probe:
    name: str
    target: str  # what is probed, for the table (never a secret)
    check: Callable[[float], tuple[bool, str]]  # timeout -> (ok, detail)


@dataclass
class Result:
    name: str
    ok: bool
    latency_ms: float
    target: str
    detail: str


# ---------------------------------------------------------------------- probe kinds
def http_probe(
    name: str,
    url: str,
    accept: Callable[[int], bool] = lambda status: 200 <= status < 300,
    headers: Optional[dict[str, str]] = None,
    context=None,
) -> Probe:
    """GET url; healthy when `accept(status)`. Redirects are not followed."""

    def check(timeout: float) -> tuple[bool, str]:
        import http.client
        import urllib.parse

        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            connection.request("GET", parts.path or "/", headers=headers or {})
            response = connection.getresponse()
            response.read(65536)
            status = response.status
        except socket.timeout:
            return False, f"no answer within {timeout:g}s"
        except (OSError, http.client.HTTPException) as error:
            return False, _describe(error)
        finally:
            connection.close()
        return accept(status), f"HTTP {status}"

    return Probe(name, url, check)


def tcp_probe(name: str, host: str, port: int) -> Probe:
    def check(timeout: float) -> tuple[bool, str]:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True, "accepts connections"
        except OSError as error:
            return False, _describe(error)

    return Probe(name, f"tcp://{host}:{port}", check)


def redis_probe(name: str, host: str, port: int, password: str = "") -> Probe:
    """AUTH (when a password is set) and PING over the Redis protocol."""

    def check(timeout: float) -> tuple[bool, str]:
        def command(sock: socket.socket, *parts: str) -> bytes:
            payload = f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)
            sock.sendall(payload.encode())
            return sock.recv(1024)

        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if password and not command(sock, "AUTH", password).startswith(b"+OK"):
                    return False, "AUTH refused: REDIS_PASSWORD in docker/.env does not match the server"
                answer = command(sock, "PING")
        except OSError as error:
            return False, _describe(error)
        return answer.startswith(b"+PONG"), answer.decode(errors="replace").strip()[:60]

    return Probe(name, f"redis://{host}:{port}", check)


def command_probe(name: str, target: str, argv: list[str]) -> Probe:
    """Healthy when the command exits 0; its first output line is the detail."""

    def check(timeout: float) -> tuple[bool, str]:
        import subprocess

        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout + 5, check=False)
        except subprocess.TimeoutExpired:
            return False, f"no answer within {timeout + 5:g}s"
        output = (done.stdout or done.stderr).decode(errors="replace").strip().splitlines()
        return done.returncode == 0, (output[0] if output else f"exit {done.returncode}")[:120]

    return Probe(name, target, check)


def certificate_probe(
    name: str, host: str, port: int = 443, min_days: int = MIN_CERT_DAYS, context=None
) -> Probe:
    """A verified TLS handshake (system CAs unless `context` says otherwise), and at least
    `min_days` until the certificate expires."""

    def check(timeout: float) -> tuple[bool, str]:
        import ssl

        tls_context = context or ssl.create_default_context()
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw:  # noqa: SIM117 - py3.9
                with tls_context.wrap_socket(raw, server_hostname=host) as tls:
                    certificate = tls.getpeercert()
        except ssl.SSLCertVerificationError as error:
            return False, f"certificate not trusted: {error.verify_message}"
        except OSError as error:
            return False, _describe(error)
        days = int((ssl.cert_time_to_seconds(certificate["notAfter"]) - time.time()) // 86400)
        return days >= min_days, f"certificate expires in {days} days" + (
            "" if days >= min_days else f" (renewal should happen {min_days}+ days ahead: check Caddy's logs)"
        )

    return Probe(name, f"tls://{host}:{port}", check)


def _describe(error: BaseException) -> str:
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return reason[:120]


# ---------------------------------------------------------------------- running probes
def run_probes(probes: list[Probe], timeout: float = DEFAULT_TIMEOUT) -> list[Result]:
    """Run every probe at once; results in the probes' order."""
    from concurrent.futures import ThreadPoolExecutor

    def timed(probe: Probe) -> Result:
        started = time.monotonic()
        try:
            ok, detail = probe.check(timeout)
        except Exception as error:  # a probe bug must not hide the other results
            ok, detail = False, f"probe failed: {_describe(error)}"
        return Result(probe.name, ok, round((time.monotonic() - started) * 1000, 1), probe.target, detail)

    if not probes:
        return []
    with ThreadPoolExecutor(max_workers=len(probes)) as pool:
        return list(pool.map(timed, probes))


def healthy(results: list[Result]) -> bool:
    return bool(results) and all(result.ok for result in results)


def results_table(results: list[Result]) -> str:
    rows = [
        {**asdict(r), "status": "ok" if r.ok else "FAIL", "latency": f"{r.latency_ms:.0f} ms"}
        for r in results
    ]
    return cli.table(
        rows,
        [
            ("name", "SERVICE"),
            ("status", "STATUS"),
            ("latency", "LATENCY"),
            ("target", "TARGET"),
            ("detail", "DETAIL"),
        ],
    )


# ---------------------------------------------------------------------- this instance
def service_probes(project: Project, containers: dict, services: list[str]) -> list[Probe]:
    """A probe per service of the stack; a service without a running container fails."""
    env = project.env
    probes = []
    for service in services:
        if service not in SERVICE_PROBES:
            continue
        kind, port, path = SERVICE_PROBES[service]
        container = containers.get(service)
        if container is None or container.state != "running" or not container.addresses:
            state = container.state if container else "not created"
            probes.append(Probe(service, project.container_name(service), _down(state)))
            continue
        host = container.addresses[0]
        if kind == "pg_isready":
            argv = ["docker", "exec", container.id, "pg_isready", "-h", "localhost", "-U", "postgres"]
            probes.append(command_probe(service, f"pg_isready in {container.name}", argv))
        elif kind == "tcp":
            probes.append(tcp_probe(service, host, port))
        elif kind == "redis":
            probes.append(redis_probe(service, host, port, env.get("REDIS_PASSWORD", "")))
        else:
            url = f"http://{host}:{port}{path}"
            headers = {"Host": env.get("API_DOMAIN", "")} if service == "caddy" else {}
            if kind == "http-anon":
                headers["Authorization"] = f"Bearer {env.get('ANON_KEY', '')}"
            accept = (
                (lambda status: status < 500) if kind == "http-any" else (lambda status: 200 <= status < 300)
            )
            probes.append(http_probe(service, url, accept, headers))
    return probes


def _down(state: str) -> Callable[[float], tuple[bool, str]]:
    return lambda timeout: (False, f"container {state}: see `docker compose logs` (docs/TROUBLESHOOTING.md)")


def public_probes(project: Project, min_days: int) -> list[Probe]:
    env = project.env
    probes = []
    for key in ("API_DOMAIN", "STUDIO_DOMAIN"):
        domain = env.get(key, "")
        if not domain:
            raise OpsError(f"{key} is empty in docker/.env: --production needs the public domains")
        # Studio answers 401 behind basic auth, the API 404 on /: both prove Caddy serves HTTPS.
        probes.append(http_probe(f"https {domain}", f"https://{domain}/", lambda status: status < 500))
        probes.append(certificate_probe(f"certificate {domain}", domain, 443, min_days))
    return probes


def instance_probes(project: Project, production: bool = False, min_days: int = MIN_CERT_DAYS) -> list[Probe]:
    services = project.services()
    containers = {c.service: c for c in project.containers()}
    probes = service_probes(project, containers, services)
    if production:
        probes += public_probes(project, min_days)
    return probes


def check(project: Project, production: bool = False, timeout: float = DEFAULT_TIMEOUT) -> list[Result]:
    return run_probes(instance_probes(project, production), timeout)


# ---------------------------------------------------------------------- metrics
def _query_json(project: Project, sql: str) -> Optional[list]:
    from . import pgclient

    try:
        return pgclient.query_json(pgclient.ContainerPg(project), sql)
    except OpsError:
        return None


def metrics(project: Project) -> dict:
    """Connections, slowest statements, sizes, CPU and memory: whatever can be read."""
    from . import dockerhost
    from .pgclient import quote_ident

    data: dict = {}
    data["connections"] = _query_json(
        project,
        "SELECT coalesce(state, 'background') AS state, count(*) AS count FROM pg_stat_activity GROUP BY 1",
    )
    data["databases"] = _query_json(
        project,
        "SELECT datname AS database, pg_database_size(datname) AS bytes FROM pg_database "
        "WHERE NOT datistemplate ORDER BY 2 DESC",
    )
    schema = _query_json(
        project,
        "SELECT n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_stat_statements'",
    )
    if schema:
        statements = f"{quote_ident(schema[0]['schema'])}.pg_stat_statements"
        data["slowest_statements"] = _query_json(
            project,
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 100) AS query, calls, "  # noqa: S608 - quoted
            "round(mean_exec_time::numeric, 2) AS mean_ms, round(total_exec_time::numeric, 1) AS total_ms "
            f"FROM {statements} ORDER BY mean_exec_time DESC LIMIT 5",
        )
    else:
        data["slowest_statements"] = "pg_stat_statements is not installed in the postgres database"
    marker = f"com.docker.compose.project={project.name}"
    volumes = dockerhost.parse_json_stream(
        dockerhost.docker("system", "df", "-v", "--format", "{{json .Volumes}}").stdout.decode()
    )
    data["volumes"] = [
        {"volume": v.get("Name"), "size": v.get("Size")}
        for v in volumes
        if marker in (v.get("Labels") or "").split(",")
    ]
    running = [c.name for c in project.containers() if c.state == "running"]
    if running:
        stats = dockerhost.docker("stats", "--no-stream", "--format", "{{json .}}", *running).stdout.decode()
        data["containers"] = [
            {"container": s.get("Name"), "cpu": s.get("CPUPerc"), "memory": s.get("MemUsage")}
            for s in dockerhost.parse_json_stream(stats)
        ]
    return data


def print_metrics(data: dict) -> None:
    sections = [
        ("connections", [("state", "STATE"), ("count", "CONNECTIONS")]),
        ("databases", [("database", "DATABASE"), ("size", "SIZE")]),
        ("slowest_statements", [("mean_ms", "MEAN MS"), ("calls", "CALLS"), ("query", "QUERY")]),
        ("volumes", [("volume", "VOLUME"), ("size", "SIZE")]),
        ("containers", [("container", "CONTAINER"), ("cpu", "CPU"), ("memory", "MEMORY")]),
    ]
    for key, columns in sections:
        value = data.get(key)
        print()
        if value is None:
            print(f"{key}: could not be read (is the db container running?)")
        elif isinstance(value, str):
            print(f"{key}: {value}")
        else:
            rows = [dict(row, size=cli.human_bytes(row["bytes"])) if "bytes" in row else row for row in value]
            print(cli.table(rows, columns))


# ---------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--production", action="store_true", help="also probe the public HTTPS endpoints")
    parser.add_argument("--metrics", action="store_true", help="add database, volume and container metrics")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per probe (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--min-cert-days",
        type=int,
        default=MIN_CERT_DAYS,
        help=f"fail when the certificate expires sooner (default {MIN_CERT_DAYS})",
    )
    cli.add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    project = cli.project(args)
    results = run_probes(instance_probes(project, args.production, args.min_cert_days), args.timeout)
    extra = metrics(project) if args.metrics else None
    ok = healthy(results)
    if args.json:
        payload = {
            "project": project.name,
            "healthy": ok,
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "probes": [asdict(result) for result in results],
        }
        if extra is not None:
            payload["metrics"] = extra
        cli.print_json(payload)
    else:
        print(results_table(results))
        failed = [r.name for r in results if not r.ok]
        print(f"\n{project.name}: " + (f"UNHEALTHY ({', '.join(failed)})" if failed else "healthy"))
        if failed and all(r.target == project.container_name(r.name) for r in results if not r.ok):
            print("its containers are not running: start it with `python3 scripts/start.py`")
        if extra is not None:
            print_metrics(extra)
    return cli.EXIT_OK if ok else cli.EXIT_FAILED


def main(argv=None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv)
