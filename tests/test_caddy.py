"""Caddy in front of the stack: what the Caddyfiles mean (caddy adapt) and what they do (caddy run).

`caddy run` serves the adapted config on loopback ports, in front of two small HTTP servers
standing in for Kong and Studio; only the listen addresses, the upstreams and (for production)
the certificate issuer are changed in the JSON, everything else is the rendered Caddyfile.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pgcluster import free_port
from stack import caddy, caddy_environment, caddy_run, compose_config, env_values

API_PATHS = {
    "/auth/v1/*", "/rest/v1/*", "/graphql/v1*", "/realtime/v1/*", "/storage/v1/*", "/functions/v1/*",
    "/pg/*", "/sso/*", "/.well-known/*",
}  # fmt: skip
PRODUCTION = {"environment": "production", "domain": "example.com", "acme_email": "ops@example.com"}


@dataclass
class Site:
    project: Path
    env: dict[str, str] = field(repr=False)  # what the caddy container gets (holds the hash)
    adapted: dict = field(repr=False)  # `caddy adapt` of the environment's Caddyfile

    def routes_for(self, host: str) -> list[dict]:
        routes = []
        for server in self.adapted["apps"]["http"]["servers"].values():
            for route in server.get("routes", []):
                if any(host in match.get("host", []) for match in route.get("match", [])):
                    routes.append(route)
        return routes


def adapt(project: Path, caddyfile: str, home: Path) -> Site:
    env = caddy_environment(
        compose_config(project, "local" if caddyfile == "Caddyfile.local" else "production"), home
    )
    done = caddy_run(
        "adapt", "--config", str(project / "caddy" / caddyfile), "--adapter", "caddyfile", env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return Site(project, env, json.loads(done.stdout))


@pytest.fixture(scope="module")
def local_site(render, tmp_path_factory) -> Site:
    return adapt(render(project_name="caddy-local"), "Caddyfile.local", tmp_path_factory.mktemp("caddy-home"))


@pytest.fixture(scope="module")
def prod_site(render, tmp_path_factory) -> Site:
    return adapt(
        render(project_name="caddy-prod", **PRODUCTION),
        "Caddyfile.prod",
        tmp_path_factory.mktemp("caddy-home"),
    )


def handlers(route: dict) -> Iterator[dict]:
    """Every handler in a route, subroutes included."""
    for handler in route.get("handle", []):
        yield handler
        for sub in handler.get("routes", []):
            yield from handlers(sub)


def all_handlers(site: Site, host: str) -> list[dict]:
    return [handler for route in site.routes_for(host) for handler in handlers(route)]


def response_headers(site: Site, host: str) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for handler in all_handlers(site, host):
        if handler["handler"] == "headers":
            merged.update(handler.get("response", {}).get("set", {}))
    return merged


@pytest.mark.parametrize("which", ["local", "prod"])
def test_studio_always_behind_basic_auth(which: str, local_site: Site, prod_site: Site):
    site = local_site if which == "local" else prod_site
    studio = site.env["STUDIO_DOMAIN"]
    routes = site.routes_for(studio)
    assert routes, f"no site for {studio}"
    for route in routes:  # https://studio... and, locally, http://studio... too
        kinds = [handler["handler"] for handler in handlers(route)]
        assert kinds.count("authentication") == 1 and kinds.index("authentication") < kinds.index(
            "reverse_proxy"
        )
        auth = next(handler for handler in handlers(route) if handler["handler"] == "authentication")
        accounts = auth["providers"]["http_basic"]["accounts"]
        usernames = [account["username"] for account in accounts]
        assert usernames == [site.env["DASHBOARD_USERNAME"]]
    assert response_headers(site, studio)["X-Frame-Options"] == ["DENY"]
    proxies = [h for h in all_handlers(site, studio) if h["handler"] == "reverse_proxy"]
    assert {u["dial"] for p in proxies for u in p["upstreams"]} == {"studio:3000"}


@pytest.mark.parametrize("which", ["local", "prod"])
def test_api_site_proxies_only_the_api_paths(which: str, local_site: Site, prod_site: Site):
    site = local_site if which == "local" else prod_site
    api = site.env["API_DOMAIN"]
    matched_paths = set()
    for route in site.routes_for(api):
        for handler in handlers(route):
            for sub in handler.get("routes", []):
                if any(h["handler"] == "reverse_proxy" for h in handlers(sub)):
                    for match in sub.get("match", []):
                        matched_paths |= set(match.get("path", []))
    assert matched_paths == API_PATHS
    headers = response_headers(site, api)
    assert headers["X-Content-Type-Options"] == ["nosniff"]
    assert ("Strict-Transport-Security" in headers) == (which == "prod")
    assert "Strict-Transport-Security" not in response_headers(local_site, local_site.env["STUDIO_DOMAIN"])


def test_production_https_and_http3(prod_site: Site):
    servers = prod_site.adapted["apps"]["http"]["servers"]
    assert all(server.get("protocols") == ["h1", "h2", "h3"] for server in servers.values())
    policies = prod_site.adapted["apps"].get("tls", {}).get("automation", {}).get("policies", [])
    issuers = [issuer["module"] for policy in policies for issuer in policy.get("issuers", [])]
    assert issuers and set(issuers) == {"acme"}, issuers  # public certificates, never the local CA
    emails = {issuer.get("email") for policy in policies for issuer in policy["issuers"]}
    assert emails == {"ops@example.com"}
    assert all(server.get("logs") is not None for server in servers.values()), "access logs are off"


def test_local_uses_the_local_ca(local_site: Site):
    policies = local_site.adapted["apps"]["tls"]["automation"]["policies"]
    assert {issuer["module"] for policy in policies for issuer in policy["issuers"]} == {"internal"}
    assert local_site.adapted["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False


# ------------------------------------------------------------------------------ caddy run


class Upstream:
    """A loopback HTTP server standing in for Kong or Studio: echoes what reached it as JSON.

    A websocket upgrade is answered with 101 and the bytes `upgraded`, as Realtime would switch.
    """

    def __init__(self, name: str):
        self.name = name
        self.requests: list[dict] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                upstream.requests.append({"path": self.path, "headers": dict(self.headers)})
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    self.send_response(101)
                    self.send_header("Upgrade", "websocket")
                    self.send_header("Connection", "Upgrade")
                    self.end_headers()
                    self.wfile.write(b"upgraded")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                body = json.dumps(
                    {"upstream": upstream.name, "path": self.path, "headers": dict(self.headers)}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Server", "standin")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def retarget(
    adapted: dict, http_port: int, https_port: int, upstreams: dict[str, str], internal_tls: bool
) -> dict:
    """The adapted config with loopback listeners and upstreams; optionally the local CA for ACME."""
    config = json.loads(json.dumps(adapted))
    config["admin"] = {"disabled": True}
    http_app = config["apps"]["http"]
    http_app["http_port"], http_app["https_port"] = http_port, https_port
    for server in http_app["servers"].values():
        server["listen"] = [
            f"127.0.0.1:{https_port}" if address.endswith(":443") else f"127.0.0.1:{http_port}"
            for address in server["listen"]
        ]
    text = json.dumps(config)
    for dial, address in upstreams.items():
        text = text.replace(f'"dial": "{dial}"', f'"dial": "{address}"')
    config = json.loads(text)
    if internal_tls:
        for policy in config["apps"].get("tls", {}).get("automation", {}).get("policies", []):
            policy["issuers"] = [{"module": "internal"}]
        config["apps"].setdefault("pki", {})["certificate_authorities"] = {"local": {"install_trust": False}}
    return config


@dataclass
class Running:
    http_port: int
    https_port: int
    kong: Upstream
    studio: Upstream
    ca_file: Path
    log: Path


@pytest.fixture
def serve(tmp_path: Path):
    """serve(site, internal_tls) -> Running: `caddy run` of the site on loopback, stopped afterwards."""
    started: list[tuple[subprocess.Popen, Upstream, Upstream]] = []

    def _serve(site: Site, internal_tls: bool = False) -> Running:
        kong, studio = Upstream("kong"), Upstream("studio")
        http_port, https_port = free_port(), free_port()
        config = retarget(
            site.adapted,
            http_port,
            https_port,
            {"kong:8000": kong.address, "studio:3000": studio.address},
            internal_tls,
        )
        config_file = tmp_path / "caddy.json"
        config_file.write_text(json.dumps(config))
        log = tmp_path / "caddy.log"
        home = tmp_path / "home"
        env = caddy_environment({"services": {"caddy": {"environment": {}}}}, home)
        process = subprocess.Popen(
            [caddy(), "run", "--config", str(config_file)],
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        started.append((process, kong, studio))
        wait_for_port(https_port, process, log)
        wait_for_port(http_port, process, log)
        ca = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        return Running(http_port, https_port, kong, studio, ca, log)

    yield _serve
    for process, kong, studio in started:
        process.terminate()
        process.wait(timeout=30)
        kong.close()
        studio.close()


def wait_for_port(port: int, process: subprocess.Popen, log: Path, deadline: float = 30) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise AssertionError(f"caddy exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"caddy did not listen on {port}:\n{log.read_text()[-3000:]}")


def tls_socket(port: int, host: str, ca: Path, deadline: float = 30) -> ssl.SSLSocket:
    """A TLS connection checked against Caddy's local CA for the site name, as a browser would.

    Caddy issues its certificates in the background after start: retry until one is served.
    """
    end = time.monotonic() + deadline
    while True:
        try:
            context = ssl.create_default_context(cafile=str(ca))
            return context.wrap_socket(
                socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname=host
            )
        except (OSError, ssl.SSLError):
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


def request(
    port: int,
    host: str,
    path: str,
    headers: dict[str, str] | None = None,
    tls_ca: Path | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if tls_ca:
        conn.sock = tls_socket(port, host, tls_ca)
    conn.request("GET", path, headers={"Host": host, **(headers or {})})
    response = conn.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    conn.close()
    return result


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def test_local_caddy_serves_api_and_guards_studio(local_site: Site, serve):
    running = serve(local_site)
    api, studio = local_site.env["API_DOMAIN"], local_site.env["STUDIO_DOMAIN"]
    secrets = env_values(local_site.project)

    status, headers, body = request(running.http_port, api, "/rest/v1/todos?select=*")
    assert status == 200
    echoed = json.loads(body)
    assert (echoed["upstream"], echoed["path"]) == ("kong", "/rest/v1/todos?select=*")
    assert echoed["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert "server" not in headers and headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in headers

    assert request(running.http_port, api, "/")[0] == 404  # Kong's own dashboard route is not served
    assert request(running.http_port, api, "/project/default")[0] == 404

    status, headers, _ = request(running.http_port, studio, "/")
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert (
        request(running.http_port, studio, "/", basic(secrets["DASHBOARD_USERNAME"], "wrong-password"))[0]
        == 401
    )
    assert running.studio.requests == [], "Studio was reached without credentials"
    status, headers, body = request(
        running.http_port,
        studio,
        "/project/default",
        basic(secrets["DASHBOARD_USERNAME"], secrets["DASHBOARD_PASSWORD"]),
    )
    assert status == 200 and json.loads(body)["upstream"] == "studio"
    assert headers["x-frame-options"] == "DENY"

    # HTTPS with a certificate from Caddy's local CA, checked against that CA.
    status, _, body = request(running.https_port, api, "/auth/v1/health", tls_ca=running.ca_file)
    assert status == 200 and json.loads(body)["path"] == "/auth/v1/health"

    access = [json.loads(line) for line in running.log.read_text().splitlines() if '"http.log.access' in line]
    assert any(entry["request"]["uri"] == "/rest/v1/todos?select=*" for entry in access), "no access log line"


def test_websocket_upgrade_reaches_realtime(local_site: Site, serve):
    running = serve(local_site)
    api = local_site.env["API_DOMAIN"]
    with socket.create_connection(("127.0.0.1", running.http_port), timeout=30) as sock:
        sock.sendall(
            (
                f"GET /realtime/v1/websocket?apikey=k&vsn=1.0.0 HTTP/1.1\r\nHost: {api}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            ).encode()
        )
        received = b""
        while b"upgraded" not in received:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 101"), received[:200]
    assert received.endswith(b"upgraded")
    assert running.kong.requests[0]["path"] == "/realtime/v1/websocket?apikey=k&vsn=1.0.0"


def test_production_caddy_redirects_and_sends_hsts(prod_site: Site, serve):
    running = serve(prod_site, internal_tls=True)  # the local CA instead of Let's Encrypt, offline
    api, studio = prod_site.env["API_DOMAIN"], prod_site.env["STUDIO_DOMAIN"]
    secrets = env_values(prod_site.project)

    status, headers, _ = request(running.http_port, api, "/rest/v1/")
    assert status in (301, 308) and headers["location"].startswith(f"https://{api}")

    status, headers, body = request(running.https_port, api, "/rest/v1/", tls_ca=running.ca_file)
    assert status == 200 and json.loads(body)["upstream"] == "kong"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert "h3" in headers.get("alt-svc", ""), "HTTP/3 is not advertised"

    assert request(running.https_port, studio, "/", tls_ca=running.ca_file)[0] == 401
    credentials = basic(secrets["DASHBOARD_USERNAME"], secrets["DASHBOARD_PASSWORD"])
    status, headers, body = request(running.https_port, studio, "/", credentials, tls_ca=running.ca_file)
    assert status == 200 and json.loads(body)["upstream"] == "studio"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
