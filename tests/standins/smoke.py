"""The compose tier of the smoke tests: rendered projects running on the local test images.

A pytest plugin (tests/conftest.py loads it) with:
- `SmokeStack`: one rendered project under `docker compose`, through its own docker/.env and
  compose files plus tests/docker/compose.standins.yml (the image swap, nothing else);
- session fixtures: the images, two instances (offsets 0 and 100) up at the same time,
  the first through pytest-docker (docker_compose_file & co. are overridden here);
- cleanup: test projects are named `smoketest-*`; whatever earlier runs left behind is
  removed by compose project label at session start (this suite's names only; .ci/run
  removes every smoketest-* project), and every stack is torn down
  (`down -v --remove-orphans`) at the end, also when a test or the start-up failed;
- SMOKE_STRICT=1 (set by CI): a skipped compose-tier test (marker `docker`) fails instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT / "template" / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "template" / "scripts"))

from standins.engine import PROJECT_PREFIX, docker_unavailable_reason, remove_test_projects  # noqa: E402
from standins.images import BASE_IMAGE, ImageBuildError, build_images  # noqa: E402
from supabase_ops.envfile import EnvFile  # noqa: E402
from supabase_ops.secrets import SECRETS  # noqa: E402

STANDINS_OVERRIDE = ROOT / "tests" / "docker" / "compose.standins.yml"
# The projects this suite creates: a session cleans up only these (and their drills).
SESSION_PROJECTS = tuple(f"{PROJECT_PREFIX}{name}" for name in ("one", "two", "prod"))
UP_TIMEOUT = 300  # seconds `up --wait` may take on a loaded 2-core CI machine


class Hidden(str):
    """A secret that keeps out of reprs: pytest prints the arguments of failing frames."""

    def __repr__(self) -> str:
        return "'<hidden>'"


def load_env(docker_dir: Path) -> dict[str, str]:
    """docker/.env as Compose reads it, with every generated secret wrapped in Hidden."""
    values = EnvFile.load(docker_dir / ".env").values()
    return {key: Hidden(value) if key in SECRETS else value for key, value in values.items()}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------- one stack
class SmokeStack:
    """A rendered project run by `docker compose` with the stand-in override."""

    def __init__(self, project: Path, extra_override: dict | None = None):
        self.project = Path(project)
        self.docker_dir = self.project / "docker"
        self.env = load_env(self.docker_dir)
        self.name = self.env["PROJECT_NAME"]
        assert self.name.startswith(PROJECT_PREFIX), "test projects are named smoketest-* for cleanup"
        self.environment = self.env.get("ENVIRONMENT", "local")
        self.override = self.project / ".smoke" / "compose.standins.yml"
        self._write_override(extra_override or {})

    def base_files(self) -> list[Path]:
        overlay = "local" if self.environment == "local" else "prod"
        return [self.docker_dir / "docker-compose.yml", self.docker_dir / f"docker-compose.{overlay}.yml"]

    @property
    def files(self) -> list[Path]:
        return [*self.base_files(), self.override]

    def services(self) -> list[str]:
        done = self.compose("config", "--services", files=self.base_files())
        return done.stdout.split()

    def _write_override(self, extra: dict) -> None:
        """The stand-in override, cut down to this project's services, plus test-only extras.

        The override file is read as text: its `!reset` tags are Compose's, not YAML's.
        """
        self.override.parent.mkdir(exist_ok=True)
        document = yaml.load(STANDINS_OVERRIDE.read_text(), Loader=_ComposeLoader)  # noqa: S506
        wanted = set(self.services())
        services = {name: spec for name, spec in document["services"].items() if name in wanted}
        for name, spec in extra.items():
            services.setdefault(name, {}).update(spec)
        header = f"# Generated from {STANDINS_OVERRIDE.relative_to(ROOT)} for {self.name}; tests only.\n"
        self.override.write_text(
            header + yaml.dump({"services": services}, Dumper=_ComposeDumper, sort_keys=False)
        )

    def process_env(self) -> dict[str, str]:
        """This environment minus the variables docker/.env sets (the shell's would win)."""
        return {
            key: value for key, value in os.environ.items() if key not in self.env and key != "COMPOSE_FILE"
        }

    def command(self, *args: str, files: Sequence[Path] | None = None) -> list[str]:
        command = ["docker", "compose", "--project-directory", str(self.docker_dir), "-p", self.name]
        for path in files if files is not None else self.files:
            command += ["-f", str(path)]
        return [*command, *args]

    def compose(
        self,
        *args: str,
        check: bool = True,
        files: Sequence[Path] | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            self.command(*args, files=files),
            cwd=self.docker_dir,
            env=self.process_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            # Compose's messages name services and files; they never print docker/.env.
            raise AssertionError(
                f"docker compose {' '.join(args)} failed for {self.name}:\n{done.stderr[-4000:]}"
            )
        return done

    def up_command(self) -> list[str]:
        return self.command("up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT))

    def up(self) -> None:
        done = self.compose("up", "-d", "--wait", "--wait-timeout", str(UP_TIMEOUT), check=False)
        if done.returncode != 0:
            raise AssertionError(f"{self.name} did not come up:\n{done.stderr[-3000:]}\n{self.diagnostics()}")

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "--timeout", "5", check=False)

    def diagnostics(self) -> str:
        """Container states and the last log lines of unhealthy services (no .env content)."""
        lines = [f"{c['Service']}: {c['State']} {c.get('Health', '')}" for c in self.containers()]
        for container in self.containers():
            if container.get("Health") not in ("", "healthy") or container["State"] != "running":
                logs = self.compose("logs", "--no-color", "--tail", "15", container["Service"], check=False)
                lines.append(f"--- {container['Service']} logs\n{logs.stdout}{logs.stderr}")
        return "\n".join(lines)

    def containers(self) -> list[dict]:
        done = self.compose("ps", "-a", "--format", "json", check=False)
        text = done.stdout.strip()
        if not text:
            return []
        if text.startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines()]

    def inspect(self, service: str) -> dict:
        done = subprocess.run(
            ["docker", "inspect", f"{self.name}_{service}"], capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout)[0]

    def published_ports(self) -> set[tuple[str, int, str, str, int]]:
        """(service, container port, protocol, host address, host port) of every running binding."""
        found = set()
        for service in self.services():
            for target, bindings in (self.inspect(service)["NetworkSettings"]["Ports"] or {}).items():
                container_port, protocol = target.split("/")
                for binding in bindings or []:
                    found.add(
                        (service, int(container_port), protocol, binding["HostIp"], int(binding["HostPort"]))
                    )
        return found

    def port(self, variable: str) -> int:
        return int(self.env[variable])


class _ComposeLoader(yaml.SafeLoader):
    pass


class _ComposeTag(str):
    """A Compose-specific YAML tag (`!reset`, `!override`) kept as is."""

    def __new__(cls, tag: str, value):
        obj = super().__new__(cls, tag)
        obj.value = value
        return obj


def _construct_tag(loader, suffix, node):
    if isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node)
    else:
        value = loader.construct_scalar(node)
    return _ComposeTag("!" + suffix, value)


_ComposeLoader.add_multi_constructor("!", _construct_tag)


class _ComposeDumper(yaml.SafeDumper):
    pass


def _represent_tag(dumper, data: _ComposeTag):
    if isinstance(data.value, list):
        return dumper.represent_sequence(str(data), data.value)
    if isinstance(data.value, dict):
        return dumper.represent_mapping(str(data), data.value)
    return dumper.represent_scalar(str(data), data.value or "")


_ComposeDumper.add_representer(_ComposeTag, _represent_tag)


def override_ports(*ports: str):
    """A `ports: !override [...]` value: replaces, rather than extends, a service's ports."""
    return _ComposeTag("!override", list(ports))


# ---------------------------------------------------------------------------- pytest plugin
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """SMOKE_STRICT=1 (CI): a skipped compose-tier test is a failure, with the skip's reason."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("SMOKE_STRICT") == "1" and item.get_closest_marker("docker"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"SMOKE_STRICT=1 forbids skipping a compose-tier test: {reason}"


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (or, under SMOKE_STRICT=1, fail) the compose tier when Docker cannot run it."""
    reason = docker_unavailable_reason(BASE_IMAGE)
    if reason:
        pytest.skip(reason)
    removed = remove_test_projects(only=SESSION_PROJECTS)
    if removed:
        print(f"removed leftovers of earlier runs: {', '.join(removed)}", file=sys.stderr)


@pytest.fixture(scope="session")
def standin_images(docker_engine) -> dict[str, str]:
    try:
        return build_images(log=lambda line: print(line, file=sys.stderr))
    except ImageBuildError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def smoke_projects(render, standin_images) -> tuple[SmokeStack, SmokeStack]:
    """Two instances rendered with real Copier, offsets 0 and 100 (not started)."""
    one = SmokeStack(render(project_name=SESSION_PROJECTS[0], port_offset=0))
    two = SmokeStack(render(project_name=SESSION_PROJECTS[1], port_offset=100))
    return one, two


# pytest-docker runs the first instance: its fixtures, overridden at session scope.
@pytest.fixture(scope="session")
def docker_compose_file(smoke_projects) -> list[str]:
    return [str(path) for path in smoke_projects[0].files]


@pytest.fixture(scope="session")
def docker_compose_project_name(smoke_projects) -> str:
    return smoke_projects[0].name


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    return [f"up -d --wait --wait-timeout {UP_TIMEOUT}"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    return ["down -v --remove-orphans --timeout 5"]


@pytest.fixture(scope="session")
def smoke_instances(request, smoke_projects) -> Iterator[tuple[SmokeStack, SmokeStack]]:
    """Both instances up and healthy at the same time; both torn down afterwards, whatever happens."""
    one, two = smoke_projects
    request.addfinalizer(one.down)
    request.addfinalizer(two.down)
    # The second instance starts beside pytest-docker's first; both wait for healthy.
    second = subprocess.Popen(
        two.up_command(),
        cwd=two.docker_dir,
        env=two.process_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        request.getfixturevalue("docker_services")
    except Exception as error:
        second.wait()
        raise AssertionError(f"{one.name} did not come up: {error}\n{one.diagnostics()}") from None
    _, errors = second.communicate()
    if second.returncode != 0:
        raise AssertionError(f"{two.name} did not come up:\n{errors.decode()[-3000:]}\n{two.diagnostics()}")
    yield one, two
