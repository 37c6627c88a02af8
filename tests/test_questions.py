"""The questions refuse bad answers with a message naming the rule, and their defaults are valid.

Answers go through real Copier (`data=`), which raises ValueError with the validator's message.
One bad answer also goes through the interactive CLI, on a pseudo-terminal, as a user types it.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
import yaml
from conftest import TEST_TAG, render_project
from copier import run_copy
from stack import venv_tool

PRODUCTION = {"environment": "production", "domain": "example.com"}

BAD_ANSWERS = [
    ({"project_name": "Acme-Shop"}, r"may only contain lowercase letters"),
    ({"project_name": "1shop"}, r"must start with a letter"),
    ({"project_name": "acme shop"}, r"may only contain lowercase letters"),
    ({"project_name": "acme.shop"}, r"may only contain lowercase letters"),
    ({"project_name": "a" * 41}, r"at most 40 characters"),
    ({"project_name": ""}, r"project_name is required"),
    ({"project_name": "supabase"}, r"too generic.*e\.g\. 'supabase-shop'"),
    ({"project_name": "test"}, r"too generic"),
    ({**PRODUCTION, "domain": "Example.com"}, r"must be lowercase"),
    ({**PRODUCTION, "domain": "10.0.0.5"}, r"is an IP address; Caddy needs a DNS name"),
    ({**PRODUCTION, "domain": "example"}, r"is not a valid DNS name"),
    ({**PRODUCTION, "domain": "-shop.example.com"}, r"is not a valid DNS name"),
    ({**PRODUCTION, "domain": "example.123"}, r"numeric top-level label"),
    ({"environment": "production", "domain": "localhost"}, r"'production' needs a public domain"),
    ({"environment": "staging"}, r"Invalid choice for 'environment'"),
    ({"port_offset": -100}, r"port_offset must not be negative"),
    ({"port_offset": 60000}, r"above 65535; use at most 56534 \(multiples of 100"),
    ({"port_offset": "abc"}, r"port_offset must be a whole number"),
    ({"port_offset": 1.5}, r"port_offset must be a whole number"),
    ({"port_offset": True}, r"port_offset must be a whole number"),
    ({"postgres_version": 16}, r"Invalid choice for 'postgres_version'"),
    ({"storage_backend": "s3"}, r"Invalid choice for 'storage_backend'"),
    ({"oauth_providers": ["myspace"]}, r"Invalid choice for 'oauth_providers'"),
    ({"site_url": "app.example.com"}, r"site_url must be an http:// or https:// URL"),
    ({**PRODUCTION, "acme_email": "ops"}, r"acme_email must be an e-mail address"),
    ({"password_min_length": 6}, r"password_min_length must be a whole number from 8 to 72"),
    ({"password_min_length": "twelve"}, r"password_min_length must be a whole number from 8 to 72"),
]


def answer_id(case) -> str:
    answers = case[0] if isinstance(case, tuple) else case
    return "-".join(
        f"{key}={value!s:.12}" for key, value in answers.items() if key not in PRODUCTION or len(answers) == 1
    )


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS, ids=[answer_id(case) for case in BAD_ANSWERS])
def test_bad_answer_is_refused(template_repo: Path, tmp_path: Path, answers: dict, message: str):
    with pytest.raises(ValueError, match=message) as refused:
        render_project(template_repo, tmp_path / "project", **answers)
    assert "Traceback" not in str(refused.value)
    assert not (tmp_path / "project" / "docker").exists(), "a refused answer left files behind"


def test_at_least_fifteen_bad_answers():
    assert len(BAD_ANSWERS) >= 15


def copy_answers_only(template_repo: Path, dest: Path, data: dict) -> None:
    """Render with defaults for every answer not in data; no tasks (the answers are what counts)."""
    run_copy(str(template_repo), str(dest), data=data, defaults=True, unsafe=True, quiet=True,
             vcs_ref=TEST_TAG, skip_tasks=True)  # fmt: skip


def test_default_project_name_is_valid_for_a_reserved_folder(template_repo: Path, tmp_path: Path):
    """`copier copy --defaults` does not validate defaults: the folder name must not slip through."""
    copy_answers_only(template_repo, tmp_path / "supabase", {"domain": "localhost", "port_offset": 0})
    recorded = yaml.safe_load((tmp_path / "supabase" / ".copier-answers.yml").read_text())
    assert recorded["project_name"] == "supabase-instance"


def test_default_port_offset_is_the_next_free_one(
    template_repo: Path, tmp_path: Path, isolated_registry: Path
):
    previous = isolated_registry.read_text() if isolated_registry.exists() else None
    instances = {"one": {"port_offset": 0}, "two": {"port_offset": 100}}
    isolated_registry.write_text(json.dumps({"instances": instances}))
    try:
        copy_answers_only(template_repo, tmp_path / "third", {"project_name": "third-shop"})
    finally:
        if previous is None:
            isolated_registry.unlink()
        else:
            isolated_registry.write_text(previous)
    recorded = yaml.safe_load((tmp_path / "third" / ".copier-answers.yml").read_text())
    assert recorded["port_offset"] == 200


def test_help_recommends_offset_multiples_of_100():
    questions = yaml.safe_load((Path(__file__).resolve().parents[1] / "copier.yml").read_text())
    assert "multiples of 100" in questions["port_offset"]["help"]
    for name, question in questions.items():
        if not name.startswith("_"):
            assert question.get("help"), f"question {name} has no help"
            assert "default" in question, f"question {name} has no default"


class Terminal:
    """A program on a pseudo-terminal, 200 columns wide, answering cursor-position queries."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.process = subprocess.Popen(
            command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.output = b""

    def text(self) -> str:
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.output.decode(errors="replace"))

    def wait_for(self, pattern: str, deadline: float = 60) -> bool:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if re.search(pattern, self.text()):
                return True
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return bool(re.search(pattern, self.text()))
                self.output += chunk
                if b"\x1b[6n" in chunk:  # prompt_toolkit asks where the cursor is
                    os.write(self.master, b"\x1b[1;1R")
        return False

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> int:
        try:
            return self.process.wait(timeout=30)
        finally:
            os.close(self.master)


def test_interactive_cli_shows_the_rule_without_traceback(template_repo: Path, tmp_path: Path):
    env = dict(os.environ, TERM="xterm")
    command = [
        venv_tool("copier"),
        "copy",
        "--trust",
        "--vcs-ref",
        TEST_TAG,
        str(template_repo),
        str(tmp_path / "cli"),
    ]
    terminal = Terminal(command, env)
    try:
        assert terminal.wait_for(r"Instance name"), terminal.text()[-2000:]
        terminal.type(b"\x15Supabase\r")  # Ctrl-U clears the suggested default
        assert terminal.wait_for(r"may only contain lowercase letters"), terminal.text()[-2000:]
        terminal.type(b"\x03")
        terminal.wait_for(r"stopped by user")
    finally:
        code = terminal.close()
    assert "Traceback" not in terminal.text()
    assert code != 0
    assert not (tmp_path / "cli" / "docker").exists()
