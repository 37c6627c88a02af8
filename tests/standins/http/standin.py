#!/usr/bin/env python3
"""STAND-IN for the Supabase services whose official images cannot be pulled in CI.

One small HTTP server, told which service it plays by STANDIN_SERVICE. It listens on that
service's ports, answers every request with a JSON description of it and the header
`X-Standin-Service: <name>`, and enforces the few things the stack depends on (Realtime's
health needs the anon key, MinIO checks its root credentials). As `kong` it is a gateway:
it reads the kong.yml that the project's real kong-entrypoint.sh rendered and applies its
routes with key-auth, acl, basic-auth and request-termination semantics.

The same file is installed under the names the compose healthchecks call (postgrest,
kong, imgproxy, node, mc, /entrypoint.sh): it acts on the name it was started as.
It is a test double, never a Supabase service. Standard library only (PyYAML for kong).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = {
    "auth": [9999],
    "rest": [3000, 3001],  # 3001: PostgREST's admin server (/ready, /live)
    "realtime": [4000],
    "storage": [5000],
    "imgproxy": [5001],
    "meta": [8080],
    "functions": [9000],
    "studio": [3000],
    "supavisor": [4000, 6543],
    "minio": [9000, 9001],
    "kong": [8000, 8443],
}
KONG_STATUS_PORT = 8100  # what `kong health` asks
SERVICE = os.environ.get("STANDIN_SERVICE", "")
BUCKETS: set[str] = set()


def error_exit(message: str) -> int:
    print(f"standin ({SERVICE or 'no service'}): {message}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------- servers
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # one short line per request
        sys.stderr.write(
            f"{SERVICE} {self.command} {self.path.split('?')[0]} {args[1] if len(args) > 1 else ''}\n"
        )

    def body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def reply(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Standin-Service", SERVICE)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def describe(self) -> dict:
        url = urllib.parse.urlsplit(self.path)
        return {
            "service": SERVICE,
            "method": self.command,
            "path": url.path,
            "query": url.query,
            "host": self.headers.get("Host", ""),
            "consumer": self.headers.get("X-Consumer-Username", ""),
            "forwarded_for": self.headers.get("X-Forwarded-For", ""),
        }

    def handle_any(self) -> None:
        self.body()
        path = urllib.parse.urlsplit(self.path).path
        if SERVICE == "realtime" and path.endswith("/health"):
            expected = "Bearer " + os.environ.get("ANON_KEY", "")
            if self.headers.get("Authorization") != expected:
                return self.reply(403, {"message": "the health endpoint needs the anon key"})
        if SERVICE == "minio" and self.server.server_address[1] == 9000:
            return self.minio(path)
        self.reply(200, self.describe())

    def minio(self, path: str) -> None:
        if path.startswith("/minio/health/"):
            return self.reply(200, self.describe())
        root = f"{os.environ.get('MINIO_ROOT_USER', '')}:{os.environ.get('MINIO_ROOT_PASSWORD', '')}"
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(root.encode()).decode():
            return self.reply(403, {"message": "Access Denied (stand-in checks the root credentials)"})
        bucket = path.strip("/").split("/")[0]
        if self.command == "PUT" and bucket:
            BUCKETS.add(bucket)
            return self.reply(200, {**self.describe(), "bucket": bucket})
        if bucket and bucket not in BUCKETS:
            return self.reply(404, {"message": "NoSuchBucket", "bucket": bucket})
        self.reply(200, {**self.describe(), "buckets": sorted(BUCKETS)})

    def dispatch(self) -> None:  # late-bound, so Gateway's handle_any serves every method
        self.handle_any()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = dispatch


class Gateway(Handler):
    """Kong stand-in: applies the rendered declarative config to each request."""

    config: KongConfig

    def handle_any(self) -> None:
        if self.server.server_address[1] == KONG_STATUS_PORT:
            return self.reply(200, {"service": "kong", "status": "ok"})
        url = urllib.parse.urlsplit(self.path)
        route = self.config.match(url.path)
        if route is None:
            return self.reply(404, {"message": "no Route matched with those values"})
        service, route_path = route
        consumer = ""
        for plugin in service.get("plugins") or []:
            name, conf = plugin.get("name"), plugin.get("config") or {}
            if name == "request-termination":
                return self.reply(conf.get("status_code", 503), {"message": conf.get("message", "")})
            if name == "key-auth":
                key = self.headers.get("apikey") or dict(urllib.parse.parse_qsl(url.query)).get("apikey")
                if not key:
                    return self.reply(401, {"message": "No API key found in request"})
                consumer = self.config.keys.get(key, "")
                if not consumer:
                    return self.reply(401, {"message": "Invalid authentication credentials"})
            if name == "basic-auth":
                consumer = self.config.basic_auth_consumer(self.headers.get("Authorization", ""))
                if not consumer:
                    return self.reply(
                        401, {"message": "Unauthorized"}, {"WWW-Authenticate": 'Basic realm="service"'}
                    )
            if name == "acl" and not set(conf.get("allow") or []) & self.config.groups.get(consumer, set()):
                return self.reply(403, {"message": "You cannot consume this service"})
        hide_basic = any(
            p.get("name") == "basic-auth" and (p.get("config") or {}).get("hide_credentials")
            for p in service.get("plugins") or []
        )
        self.forward(service["url"], url.path[len(route_path.rstrip("/")) :], url.query, consumer, hide_basic)

    def forward(self, service_url: str, rest: str, query: str, consumer: str, hide_basic: bool) -> None:
        upstream = urllib.parse.urlsplit(service_url)
        path = upstream.path or "/"
        if rest.strip("/"):
            path = path.rstrip("/") + "/" + rest.lstrip("/")
        if query:
            path += "?" + query
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
        if hide_basic:
            headers.pop("Authorization", None)
        headers["X-Consumer-Username"] = consumer
        headers["X-Forwarded-For"] = self.client_address[0]
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port or 80, timeout=30)
        try:
            connection.request(self.command, path, body=self.body() or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
        except OSError as error:
            return self.reply(
                502, {"message": f"An invalid response was received from the upstream: {error}"}
            )
        finally:
            connection.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Via", "kong-standin")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class KongConfig:
    def __init__(self, path: str):
        import yaml

        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
        self.keys = {}
        for consumer in document.get("consumers") or []:
            for credential in consumer.get("keyauth_credentials") or []:
                if credential.get("key"):
                    self.keys[credential["key"]] = consumer["username"]
        self.groups: dict[str, set[str]] = {}
        for acl in document.get("acls") or []:
            self.groups.setdefault(acl["consumer"], set()).add(acl["group"])
        self.basic = [
            (c["consumer"], c["username"], c["password"]) for c in document.get("basicauth_credentials") or []
        ]
        self.routes = [
            (path, service)
            for service in document.get("services") or []
            for route in service.get("routes") or []
            for path in route.get("paths") or []
        ]
        self.routes.sort(key=lambda item: len(item[0]), reverse=True)  # longest prefix wins

    def match(self, path: str):
        for prefix, service in self.routes:
            if path.startswith(prefix):
                return service, prefix
        return None

    def basic_auth_consumer(self, header: str) -> str:
        if not header.startswith("Basic "):
            return ""
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return ""
        return next((c for c, u, p in self.basic if u == user and p == password), "")


def serve() -> int:
    if SERVICE not in PORTS:
        return error_exit(f"STANDIN_SERVICE must be one of {', '.join(sorted(PORTS))}")
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1: stop at once on `docker stop`
    handler: type[Handler] = Handler
    ports = list(PORTS[SERVICE])
    if SERVICE == "kong":
        Gateway.config = KongConfig(os.environ["KONG_DECLARATIVE_CONFIG"])
        handler = Gateway
        ports.append(KONG_STATUS_PORT)
    # Inside its container, on the instance network: every interface, as the real service.
    servers = [ThreadingHTTPServer(("0.0.0.0", port), handler) for port in ports]  # noqa: S104
    print(f"standin: {SERVICE} (a test stand-in) listening on {ports}", file=sys.stderr, flush=True)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()
    return 0


# ---------------------------------------------------------------------------- clients
def http_ok(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> bool:
    request = urllib.request.Request(url, method=method, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - stand-ins only
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError):
        return False


def mc(args: list[str]) -> int:
    """`mc ready ALIAS` and `mc mb [--ignore-existing] ALIAS/BUCKET`, credentials from MC_HOST_<alias>."""
    args = [a for a in args if a != "--ignore-existing"]
    if args[:1] == ["ready"]:
        return 0 if http_ok("http://127.0.0.1:9000/minio/health/live") else 1
    if args[:1] == ["mb"] and len(args) == 2 and "/" in args[1]:
        alias, bucket = args[1].split("/", 1)
        target = urllib.parse.urlsplit(os.environ.get(f"MC_HOST_{alias}", ""))
        if not target.hostname:
            return error_exit(f"mc: MC_HOST_{alias} is not set")
        credentials = (
            f"{urllib.parse.unquote(target.username or '')}:{urllib.parse.unquote(target.password or '')}"
        )
        auth = {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}
        url = f"{target.scheme}://{target.hostname}:{target.port or 80}/{bucket}"
        if http_ok(url, "PUT", auth):
            print(f"Bucket created successfully `{alias}/{bucket}`.")
            return 0
        return error_exit(f"mc: could not create bucket {bucket}")
    return error_exit(f"mc: unsupported arguments {args}")


def main(argv: list[str]) -> int:
    name = os.path.basename(argv[0])
    args = argv[1:]
    if name in {"entrypoint.sh", "standin"} and (not args or args[0] in {"serve", "kong"}):
        return serve()
    if name == "postgrest" and args == ["--ready"]:
        return 0 if http_ok("http://localhost:3001/ready") else 1
    if name == "kong" and args[:1] == ["health"]:
        return 0 if http_ok(f"http://127.0.0.1:{KONG_STATUS_PORT}/status") else 1
    if name == "imgproxy" and args == ["health"]:
        return 0 if http_ok("http://127.0.0.1:5001/health") else 1
    if name == "node" and args[:1] == ["-e"]:
        found = re.search(r"fetch\('([^']+)'\)", " ".join(args[1:]))
        return 0 if found and http_ok(found.group(1)) else 1
    if name == "mc":
        return mc(args)
    return error_exit(f"{name} {' '.join(args)}: not something this stand-in does")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
