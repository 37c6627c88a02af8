"""deploy.py: roll out what is in the instance directory now, and roll back if it is not healthy.

The known-good state is what last started healthy (start.py and deploy.py record it in
.deploy/known-good/): the compose and Caddy files and the image each service ran. A
deployment validates, backs up, remembers the running image IDs, pulls, starts, and runs
the health check. When that fails it puts the known-good files back (if they changed;
the failed ones are kept in .deploy/failed-<time>/), re-tags the remembered image IDs
(a re-pulled tag then points at the old image again), starts again and reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Optional

from . import cli
from .project import OpsError, Project

DESCRIPTION = """\
Deploy this instance after a change (e.g. `copier update`): validate the environment,
back up, record the running images, pull, `up --wait`, health check. If the health
check fails, roll back to the known-good compose files and images and start again.
With DEPLOY_WEBHOOK_URL in docker/.env, a JSON summary is POSTed there.

  --local | --production   must match ENVIRONMENT in docker/.env
  --build                  build images that have a build section
  --prune                  after a successful deployment, remove dangling images
  --no-pull                use the images already on this host (offline hosts)
  --no-backup              skip the pre-deployment backup
"""

STATE_DIR = ".deploy"


def state_dir(project: Project) -> Path:
    return project.root / STATE_DIR


def definition_files(project: Project) -> list[Path]:
    """The files a deployment can change that a rollback restores (not docker/.env)."""
    return [path for path in project.config_files() if path.name != ".env" and path != project.env_path]


def save_known_good(project: Project, images: Optional[dict] = None) -> Path:
    """Record the files and images that just ran healthy."""
    target = state_dir(project) / "known-good"
    staging = state_dir(project) / ".known-good.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    for path in definition_files(project):
        destination = staging / path.relative_to(project.root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    if images is None:
        images = running_images(project)
    (staging / "images.json").write_text(json.dumps(images, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def running_images(project: Project) -> dict[str, dict[str, str]]:
    return {service: {"image": c.image, "id": c.image_id} for service, c in sorted(project.running().items())}


def changed_files(project: Project) -> list[str]:
    """Definition files that differ from the known-good copy (relative paths)."""
    known = state_dir(project) / "known-good"
    if not known.is_dir():
        return []
    current = {str(p.relative_to(project.root)) for p in definition_files(project)}
    saved = {str(p.relative_to(known)) for p in known.rglob("*") if p.is_file() and p.name != "images.json"}
    differ = []
    for name in sorted(current | saved):
        a, b = project.root / name, known / name
        if not (a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()):
            differ.append(name)
    return differ


def rollback(project: Project, images: dict[str, dict[str, str]], timeout: int) -> dict:
    """Known-good files back (keeping the failed ones), old image IDs re-tagged, start again."""
    from . import dockerhost, health

    report: dict = {"restored_files": [], "retagged": []}
    known = state_dir(project) / "known-good"
    differ = changed_files(project)
    if differ:
        failed = state_dir(project) / f"failed-{dt.datetime.now().strftime('%Y%m%dT%H%M%S')}"
        for name in differ:
            current, saved = project.root / name, known / name
            if current.is_file():
                (failed / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(current, failed / name)
            if saved.is_file():
                shutil.copy2(saved, current)
            else:
                current.unlink()  # new in the failed deployment
        report.update(restored_files=differ, failed_files=str(failed))
    for service, image in sorted(images.items()):
        if image.get("id") and image.get("image"):
            dockerhost.docker("tag", image["id"], image["image"])
            report["retagged"].append(f"{service}: {image['image']}")
    started = project.compose(
        "up", "-d", "--wait", "--wait-timeout", str(timeout), "--remove-orphans", check=False
    )
    results = health.check(project)
    report.update(
        started=started.returncode == 0, healthy=health.healthy(results), health=[r.__dict__ for r in results]
    )
    return report


def notify(project: Project, payload: dict) -> str:
    """POST the summary to DEPLOY_WEBHOOK_URL; returns a warning, or '' (the URL is never printed)."""
    import urllib.error
    import urllib.request

    url = project.env.get("DEPLOY_WEBHOOK_URL", "")
    if not url:
        return ""
    if not url.startswith(("https://", "http://")):
        return "DEPLOY_WEBHOOK_URL in docker/.env is not an http(s) URL: no notification sent"
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"the deployment notification failed ({reason}); the deployment itself is done"
    return ""


def check_environment(project: Project, wanted: str) -> None:
    if project.environment != wanted:
        raise OpsError(
            f"--{wanted} does not match ENVIRONMENT={project.environment} in docker/.env: run "
            f"`python3 scripts/deploy.py --{project.environment}`, or change the environment with "
            "`copier update --data environment=...`"
        )
    if wanted == "production":
        import socket

        for key in ("API_DOMAIN", "STUDIO_DOMAIN"):
            domain = project.env.get(key, "")
            try:
                socket.getaddrinfo(domain, 443)
            except OSError:
                cli.status(
                    f"warning: {key}={domain} does not resolve from this host: "
                    "Caddy cannot get a certificate "
                    "until DNS points at this server (docs/DEPLOYMENT.md)"
                )


def deploy(project: Project, args: argparse.Namespace) -> dict:
    from . import backup, checks, health

    environment = "production" if args.production else "local"
    check_environment(project, environment)
    checks.enforce(checks.validate(project), force=False)
    report: dict = {
        "project": project.name,
        "environment": environment,
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    previous = running_images(project)
    report["previous_images"] = {service: image["image"] for service, image in previous.items()}
    if not args.no_backup and "db" in previous:
        report["backup"] = str(backup.create_backup(project, "pre-deploy").path)
    if not args.no_pull:
        cli.status("pulling images")
        project.compose("pull", "--ignore-buildable")
    cli.status(f"starting {project.name}")
    command = ["up", "-d", "--wait", "--wait-timeout", str(args.timeout), "--remove-orphans"]
    started = project.compose(*command, *(["--build"] if args.build else []), check=False)
    results = health.check(project, production=environment == "production")
    report["health"] = [r.__dict__ for r in results]
    if started.returncode == 0 and health.healthy(results):
        report["result"] = "deployed"
        report["images"] = {service: image["image"] for service, image in running_images(project).items()}
        save_known_good(project)
        if args.prune:
            from . import dockerhost

            dockerhost.docker("image", "prune", "--force")
    else:
        cli.status("the new deployment is not healthy: rolling back")
        report["failed_health"] = [r.name for r in results if not r.ok]
        report["rollback"] = rollback(project, previous, args.timeout)
        report["result"] = "rolled back" if report["rollback"]["healthy"] else "failed"
    report["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    warning = notify(project, {key: value for key, value in report.items() if key != "health"})
    if warning:
        cli.status(f"warning: {warning}")
    return report


def configure(parser: argparse.ArgumentParser) -> None:
    environment = parser.add_mutually_exclusive_group(required=True)
    environment.add_argument("--local", action="store_true", help="deploy the local environment")
    environment.add_argument("--production", action="store_true", help="deploy the production environment")
    parser.add_argument("--build", action="store_true", help="build images that have a build section")
    parser.add_argument(
        "--prune", action="store_true", help="remove dangling images after a successful deployment"
    )
    parser.add_argument("--no-pull", action="store_true", help="do not pull; use the images on this host")
    parser.add_argument("--no-backup", action="store_true", help="skip the pre-deployment backup")
    parser.add_argument("--timeout", type=int, default=300, help="seconds to wait for healthy services (300)")
    cli.add_json_flag(parser)


def run(args: argparse.Namespace) -> int:
    project = cli.project(args)
    report = deploy(project, args)
    if args.json:
        cli.print_json(report)
    else:
        from .health import Result, results_table

        def show(rows: list) -> None:
            print(results_table([Result(**row) for row in rows]))

        rolled = report.get("rollback")
        if rolled:
            print("the new deployment:")
            show(report["health"])
            print("\nafter the rollback:")
            show(rolled["health"])
            if rolled["restored_files"]:
                print(f"restored known-good files: {', '.join(rolled['restored_files'])}")
                print(f"the failed deployment's files are kept in {rolled['failed_files']}")
            if rolled["retagged"]:
                services = ", ".join(entry.split(":")[0] for entry in rolled["retagged"])
                print(f"re-tagged the previous images of: {services}")
        else:
            show(report["health"])
        backup = f" (pre-deploy backup {report['backup']})" if report.get("backup") else ""
        print(f"{project.name}: {report['result']}{backup}")
    return cli.EXIT_OK if report["result"] == "deployed" else cli.EXIT_FAILED


def main(argv=None) -> int:
    return cli.main(DESCRIPTION, configure, run, argv)
