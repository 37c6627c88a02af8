"""End-to-end smoke tests through the API gateway, as a client application sees the stack.

Each test talks HTTP (or a WebSocket) to the throwaway sibling started by conftest.py.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
import uuid

import pytest
from smokestack import Hidden, containers


def user_password(stack) -> str:
    """A password every policy choice accepts: lower, upper, digit, symbol, PASSWORD_MIN_LENGTH long."""
    length = max(int(stack.env.get("PASSWORD_MIN_LENGTH") or 8), 24)
    return Hidden(("Smoke-Passw0rd-" + uuid.uuid4().hex * 3)[:length])


def call(stack, method: str, path: str, key: str = "", token: str = "", body=None, headers=None, raw=False):
    """One request to the gateway; returns (status, parsed JSON or bytes)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.api + path, data=data, method=method)  # noqa: S310 - local URL
    if key:
        request.add_header("apikey", key)
    if token or key:
        request.add_header("Authorization", f"Bearer {token or key}")
    if data is not None and not isinstance(body, bytes):
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            status, payload = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    if raw:
        return status, payload
    return status, json.loads(payload) if payload.strip() else None


def new_user(stack) -> tuple[str, str]:
    """Sign a new user up, then in: returns (user id, access token)."""
    email = f"smoke-{uuid.uuid4().hex[:12]}@example.com"
    password = user_password(stack)
    status, answer = call(
        stack, "POST", "/auth/v1/signup", stack.env["ANON_KEY"], body={"email": email, "password": password}
    )
    assert status == 200, answer
    status, session = call(
        stack, "POST", "/auth/v1/token?grant_type=password", stack.env["ANON_KEY"],
        body={"email": email, "password": password},
    )  # fmt: skip
    assert status == 200 and session["token_type"] == "bearer", session  # noqa: S105
    return session["user"]["id"], Hidden(session["access_token"])


def test_every_service_is_healthy(stack):
    for container in containers(stack):
        if container["Service"] == "minio-init":
            assert container["ExitCode"] == 0
        else:
            assert (container["State"], container["Health"]) == ("running", "healthy"), container["Status"]


def test_sign_up_and_sign_in(stack):
    user_id, token = new_user(stack)
    wrong = user_password(stack)
    status, user = call(stack, "GET", "/auth/v1/user", stack.env["ANON_KEY"], token=token)
    assert status == 200 and user["id"] == user_id
    status, _ = call(
        stack, "POST", "/auth/v1/token?grant_type=password", stack.env["ANON_KEY"],
        body={"email": user["email"], "password": wrong},
    )  # fmt: skip
    assert status == 400


def test_rest_honours_row_level_security(stack):
    anon = stack.env["ANON_KEY"]
    alice, alice_token = new_user(stack)
    _, bob_token = new_user(stack)
    status, rows = call(
        stack, "POST", "/rest/v1/notes", anon, token=alice_token, body={"body": "alice's note"},
        headers={"Prefer": "return=representation"},
    )  # fmt: skip
    assert status == 201 and rows[0]["user_id"] == alice
    status, rows = call(stack, "GET", "/rest/v1/notes?select=body", anon, token=alice_token)
    assert (status, rows) == (200, [{"body": "alice's note"}])
    status, rows = call(stack, "GET", "/rest/v1/notes?select=body", anon, token=bob_token)
    assert (status, rows) == (200, [])
    status, _ = call(stack, "GET", "/rest/v1/notes", anon)  # anon may not read the table at all
    assert status == 401
    status, _ = call(
        stack, "POST", "/rest/v1/notes", anon, token=bob_token, body={"body": "forged", "user_id": alice}
    )
    assert status == 403, "RLS let a user write a row for someone else"


def test_storage_upload_and_download(stack):
    service = stack.env["SERVICE_ROLE_KEY"]
    bucket = f"smoke-{uuid.uuid4().hex[:8]}"
    status, answer = call(
        stack, "POST", "/storage/v1/bucket", service, body={"name": bucket, "public": False}
    )
    assert status == 200, answer
    content = os.urandom(4096)
    status, answer = call(
        stack, "POST", f"/storage/v1/object/{bucket}/folder/blob.bin", service, body=content,
        headers={"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert status == 200, answer
    status, downloaded = call(stack, "GET", f"/storage/v1/object/{bucket}/folder/blob.bin", service, raw=True)
    assert status == 200 and downloaded == content
    status, _ = call(
        stack, "GET", f"/storage/v1/object/{bucket}/folder/blob.bin", stack.env["ANON_KEY"], raw=True
    )
    assert status in (400, 404), "a private object was readable with the anon key"


def test_edge_function_hello(stack):
    if "functions" not in stack.services():
        pytest.skip("this instance runs without Edge Functions (enable_functions=false)")
    status, answer = call(stack, "POST", "/functions/v1/hello", stack.env["ANON_KEY"], body={"name": "smoke"})
    assert status == 200 and answer["message"] == "Hello smoke!"


def test_studio_is_behind_basic_auth(stack):
    import http.client

    def get(headers):
        connection = http.client.HTTPConnection("127.0.0.1", int(stack.env["CADDY_HTTP_PORT"]), timeout=30)
        try:
            connection.request("GET", "/", headers={"Host": stack.env["STUDIO_DOMAIN"], **headers})
            return connection.getresponse().status
        finally:
            connection.close()

    assert get({}) == 401
    credentials = f"{stack.env['DASHBOARD_USERNAME']}:{stack.env['DASHBOARD_PASSWORD']}"
    assert get({"Authorization": Hidden("Basic " + base64.b64encode(credentials.encode()).decode())}) < 400


def test_publishable_and_secret_keys_are_accepted(stack):
    publishable, secret = stack.env["SUPABASE_PUBLISHABLE_KEY"], stack.env["SUPABASE_SECRET_KEY"]
    assert publishable.startswith("sb_publishable_") and secret.startswith("sb_secret_")
    status, _ = call(stack, "GET", "/auth/v1/settings", headers={"apikey": publishable})
    assert status == 200
    status, answer = call(stack, "GET", "/auth/v1/admin/users", headers={"apikey": secret})
    assert status == 200 and "users" in answer, "the secret key must act as service_role"
    status, _ = call(stack, "GET", "/auth/v1/admin/users", headers={"apikey": publishable})
    assert status in (401, 403), "the publishable key must not reach the admin API"
    status, _ = call(stack, "GET", "/auth/v1/settings", headers={"apikey": "sb_publishable_not-a-real-key"})
    assert status == 401


# ---------------------------------------------------------------------------- Realtime
class WebSocket:
    """A minimal RFC 6455 client (text frames, ping/pong): enough for Realtime's protocol."""

    def __init__(self, host: str, port: int, path: str, timeout: float = 30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            response += chunk
        head, _, self.buffer = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head.split(b"\r\n")[0]

    def send(self, message: dict) -> None:
        payload = json.dumps(message).encode()
        header = bytes([0x81])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
        mask = os.urandom(4)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the WebSocket")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self) -> dict:
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode == 0x9:  # ping: answer, keep reading
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                raise ConnectionError("the server closed the WebSocket")
            elif opcode == 0x1:
                return json.loads(payload)

    def close(self) -> None:
        self.sock.close()


def test_realtime_delivers_an_insert(stack):
    # The example table is not published by default: publish it in this throwaway instance.
    stack.psql(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime'"
        " AND tablename = 'notes') THEN ALTER PUBLICATION supabase_realtime ADD TABLE public.notes;"
        " END IF; END $$;"
    )
    anon = stack.env["ANON_KEY"]
    user_id, token = new_user(stack)
    port = int(stack.env["KONG_HTTP_PORT"])
    socket_ = WebSocket("127.0.0.1", port, f"/realtime/v1/websocket?apikey={anon}&vsn=1.0.0")
    try:
        topic = "realtime:smoke"
        changes = [{"event": "INSERT", "schema": "public", "table": "notes"}]
        socket_.send(
            {
                "topic": topic,
                "event": "phx_join",
                "ref": "1",
                "payload": {"config": {"postgres_changes": changes}, "access_token": token},
            }
        )
        deadline = time.monotonic() + 60
        subscribed = inserted = False
        while time.monotonic() < deadline:
            message = socket_.receive()
            if message["event"] == "phx_reply":
                assert message["payload"]["status"] == "ok", message["payload"]
            if message["event"] == "system" and message["payload"].get("status") == "ok":
                subscribed = True
            if subscribed and not inserted:
                status, _ = call(
                    stack, "POST", "/rest/v1/notes", anon, token=token, body={"body": "realtime"}
                )
                assert status == 201
                inserted = True
            if message["event"] == "postgres_changes":
                record = message["payload"]["data"]["record"]
                assert record["user_id"] == user_id and record["body"] == "realtime"
                return
        pytest.fail(f"no postgres_changes event within 60 s (subscribed: {subscribed})")
    finally:
        socket_.close()
