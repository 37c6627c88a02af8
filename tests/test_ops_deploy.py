"""deploy.py's parts that need no running stack: the known-good snapshot and the webhook.

The whole deployment with its rollback runs against a real stack in test_ops_docker.py.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
from typing import ClassVar

import pytest
from conftest import ROOT

if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from supabase_ops import deploy
from supabase_ops.envfile import EnvFile
from supabase_ops.project import Project
from supabase_ops.secrets import SECRETS


@pytest.fixture
def project(render, tmp_path, monkeypatch) -> Project:
    monkeypatch.setenv("SUPABASE_INSTANCES_REGISTRY", str(tmp_path / "registry.json"))
    return Project(render(project_name="deploy-shop"))


def test_known_good_snapshot_and_what_changed_since(project):
    images = {"db": {"image": "supabase/postgres:17.6.1.136", "id": "sha256:" + "a" * 64}}
    saved = deploy.save_known_good(project, images)

    assert json.loads((saved / "images.json").read_text()) == images
    assert (saved / "docker" / "docker-compose.yml").read_bytes() == (
        project.docker_dir / "docker-compose.yml"
    ).read_bytes()
    assert not (saved / "docker" / ".env").exists()  # secrets stay in docker/.env only
    assert deploy.changed_files(project) == []

    compose = project.docker_dir / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("v2.189.0", "v2.190.0"))
    (project.docker_dir / "docker-compose.override.yml").write_text("services: {}\n")
    (project.root / "caddy" / "Caddyfile.local").unlink()

    assert deploy.changed_files(project) == [
        "caddy/Caddyfile.local",
        "docker/docker-compose.override.yml",
        "docker/docker-compose.yml",
    ]


def test_without_a_known_good_state_nothing_counts_as_changed(project):
    assert deploy.changed_files(project) == []


class Receiver(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def set_webhook(project: Project, url: str) -> None:
    env = project.env_file()
    env.set("DEPLOY_WEBHOOK_URL", url)
    env.write()


def test_the_webhook_gets_the_summary_and_no_secret(project):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.received.clear()
    try:
        set_webhook(project, f"http://127.0.0.1:{server.server_address[1]}/hooks/deploy")
        summary = {"project": "deploy-shop", "environment": "local", "result": "rolled back"}
        assert deploy.notify(project, summary) == ""
    finally:
        server.shutdown()
        server.server_close()

    assert Receiver.received == [("application/json", summary)]


def test_webhook_problems_are_warnings_that_never_show_the_url(project):
    assert deploy.notify(project, {"result": "deployed"}) == ""  # not configured: nothing to do

    set_webhook(project, "ftp://hooks.example.com/token-123")
    assert (
        deploy.notify(project, {})
        == "DEPLOY_WEBHOOK_URL in docker/.env is not an http(s) URL: no notification sent"
    )

    set_webhook(project, "http://127.0.0.1:9/token-123")  # the discard port: nothing listens
    warning = deploy.notify(project, {})
    assert warning.startswith("the deployment notification failed (")
    assert "token-123" not in warning


def test_definition_files_leave_out_the_secrets(project):
    names = {str(path.relative_to(project.root)) for path in deploy.definition_files(project)}
    assert "docker/.env" not in names
    assert {"docker/docker-compose.yml", "docker/docker-compose.local.yml", ".copier-answers.yml"} <= names
    values = EnvFile.load(project.env_path).values()
    saved = deploy.save_known_good(project, {})
    text = "".join(p.read_text(errors="replace") for p in saved.rglob("*") if p.is_file())
    leaked = [key for key in SECRETS if len(values.get(key, "")) >= 8 and values[key] in text]
    assert not leaked, f"{len(leaked)} secret value(s) in the known-good snapshot"
