"""The health check's probes and runner against real local servers: HTTP (healthy, slow,
failing), TLS with a certificate close to expiry, Redis with a password, pg_isready."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import ROOT, tool

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import health


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(2)
        status = 500 if self.path == "/broken" else 200
        body = b'{"ok": %s}' % (b"false" if status == 500 else b"true")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthy_slow_and_failing_services(http_server):
    probes = [
        health.http_probe("auth", f"{http_server}/health"),
        health.http_probe("storage", f"{http_server}/slow"),
        health.http_probe("meta", f"{http_server}/broken"),
        health.tcp_probe("functions", "127.0.0.1", closed_port()),
    ]

    results = health.run_probes(probes, timeout=0.5)

    by_name = {result.name: result for result in results}
    assert [r.name for r in results] == ["auth", "storage", "meta", "functions"]  # the probes' order
    assert by_name["auth"].ok and by_name["auth"].detail == "HTTP 200"
    assert not by_name["storage"].ok and by_name["storage"].detail == "no answer within 0.5s"
    assert not by_name["meta"].ok and by_name["meta"].detail == "HTTP 500"
    assert not by_name["functions"].ok and "refused" in by_name["functions"].detail.lower()
    assert not health.healthy(results)
    assert all(result.latency_ms >= 0 for result in results)

    table = health.results_table(results).splitlines()
    assert table[0].split() == ["SERVICE", "STATUS", "LATENCY", "TARGET", "DETAIL"]
    rows = {line.split()[0]: line.split()[1] for line in table[2:]}
    assert rows == {"auth": "ok", "storage": "FAIL", "meta": "FAIL", "functions": "FAIL"}


def test_a_slow_service_within_the_timeout_is_healthy(http_server):
    results = health.run_probes([health.http_probe("storage", f"{http_server}/slow")], timeout=10)
    assert health.healthy(results)
    assert results[0].latency_ms >= 2000  # the measured latency is the probe's own


def test_status_acceptance_is_per_probe(http_server):
    """Kong answers 404 on / and Studio behind Caddy 401: `http-any` kinds accept below 500."""
    accept_any = lambda status: status < 500  # noqa: E731
    results = health.run_probes(
        [
            health.http_probe("kong", f"{http_server}/broken", accept_any),
            health.http_probe("caddy", f"{http_server}/", accept_any, headers={"Host": "api.localhost"}),
        ]
    )
    assert [r.ok for r in results] == [False, True]


def test_no_probes_is_not_healthy():
    assert health.run_probes([]) == []
    assert not health.healthy([])


def test_a_probe_that_crashes_fails_alone(http_server):
    def explode(timeout):
        raise ValueError("bug in a probe")

    results = health.run_probes(
        [health.Probe("broken-probe", "-", explode), health.http_probe("auth", f"{http_server}/")]
    )
    assert [r.ok for r in results] == [False, True]
    assert results[0].detail == "probe failed: bug in a probe"


def make_certificate(directory: Path, days: int) -> tuple[Path, Path]:
    """A self-signed certificate for localhost valid `days` more days (cryptography)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days, hours=12))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_server(tmp_path):
    """An HTTPS server on localhost whose certificate expires in 10 days."""
    cert, key = make_certificate(tmp_path, days=10)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


def test_certificate_days_to_expiry(https_server):
    port, cert = https_server
    trusting = ssl.create_default_context(cafile=str(cert))

    results = health.run_probes(
        [
            health.certificate_probe("soon", "localhost", port, min_days=14, context=trusting),
            health.certificate_probe("fine", "localhost", port, min_days=7, context=trusting),
            health.certificate_probe("untrusted", "localhost", port),  # system CAs only
            health.http_probe("https", f"https://localhost:{port}/", context=trusting),
        ]
    )

    soon, fine, untrusted, https = results
    assert not soon.ok and soon.detail.startswith("certificate expires in 10 days")
    assert fine.ok and fine.detail == "certificate expires in 10 days"
    assert not untrusted.ok and untrusted.detail.startswith("certificate not trusted")
    assert https.ok


@pytest.fixture
def redis_server(tmp_path):
    server = tool("redis-server")
    port = closed_port()
    config = tmp_path / "redis.conf"
    # The password goes in a config file, never on the command line.
    config.write_text(
        f"port {port}\nbind 127.0.0.1\nsave ''\nappendonly no\nrequirepass redis-test-password\n"
    )
    process = subprocess.Popen([server, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait()


def test_redis_ping_with_and_without_the_right_password(redis_server):
    results = health.run_probes(
        [
            health.redis_probe("redis", "127.0.0.1", redis_server, "redis-test-password"),
            health.redis_probe("wrong", "127.0.0.1", redis_server, "not-the-password"),
            health.redis_probe("none", "127.0.0.1", redis_server),
        ]
    )
    good, wrong, missing = results
    assert good.ok and good.detail == "+PONG"
    assert not wrong.ok and wrong.detail.startswith("AUTH refused")
    assert "not-the-password" not in wrong.detail
    assert not missing.ok and "NOAUTH" in missing.detail


@pytest.mark.postgres
def test_pg_isready_against_a_real_server(pg_cluster):
    pg_isready = str(pg_cluster.bin / "pg_isready")
    results = health.run_probes(
        [
            health.command_probe(
                "db", "pg_isready", [pg_isready, "-h", "127.0.0.1", "-p", str(pg_cluster.port)]
            ),
            health.command_probe(
                "down", "pg_isready", [pg_isready, "-h", "127.0.0.1", "-p", str(closed_port())]
            ),
        ]
    )
    assert results[0].ok and "accepting connections" in results[0].detail
    assert not results[1].ok and "no response" in results[1].detail


def test_service_probes_follow_the_stack(tmp_path):
    """Which probe each service gets, from containers as Docker describes them."""
    from supabase_ops.dockerhost import Container

    # Only its settings and container names matter to service_probes.
    project = SimpleNamespace(
        env={"ANON_KEY": "anon-key-value", "REDIS_PASSWORD": "", "API_DOMAIN": "api.localhost"},
        container_name=lambda service: f"acme_{service}",
    )

    def container(service, state="running"):
        return Container(
            "id-" + service,
            f"acme_{service}",
            "acme",
            service,
            str(tmp_path),
            state,
            "",
            "img",
            "sha",
            addresses=["10.9.8.7"],
        )

    services = ["db", "auth", "realtime", "redis", "functions", "minio-init", "studio", "analytics", "vector"]
    containers = {s: container(s) for s in services if s != "studio"}
    containers["auth"] = container("auth", state="exited")

    probes = {p.name: p for p in health.service_probes(project, containers, services)}

    # minio-init is one-shot; analytics and vector are probed when the instance runs the log stack.
    assert set(probes) == {"db", "auth", "realtime", "redis", "functions", "studio", "analytics", "vector"}
    assert probes["db"].target == "pg_isready in acme_db"
    assert probes["realtime"].target == "http://10.9.8.7:4000/api/tenants/realtime-dev/health"
    assert probes["redis"].target == "redis://10.9.8.7:6379"
    assert probes["functions"].target == "tcp://10.9.8.7:9000"
    assert probes["analytics"].target == "http://10.9.8.7:4000/health"
    assert probes["vector"].target == "http://10.9.8.7:9001/health"
    assert probes["auth"].check(1) == (
        False,
        "container exited: see `docker compose logs` (docs/TROUBLESHOOTING.md)",
    )
    assert probes["studio"].check(1)[0] is False
    assert all("anon-key-value" not in p.target for p in probes.values())
