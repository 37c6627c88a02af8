#!/usr/bin/env bash
# Provision a Debian 12 machine for the test suite: Debian packages, a Docker
# engine with the Compose v2 plugin, and the local base image the test images
# are built from (no container registry is reachable here). Idempotent.
set -euo pipefail

log() { printf '\n==> %s\n' "$*"; }
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive

need_pkgs=()
for pkg in docker.io debootstrap postgresql-15 postgresql-client-15 redis-server cron; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_pkgs+=("$pkg")
done
if ((${#need_pkgs[@]})); then
  log "apt-get install ${need_pkgs[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
# Debian starts services in a real system; here nothing should listen but what tests start.
service postgresql stop >/dev/null 2>&1 || true
service redis-server stop >/dev/null 2>&1 || true

plugin_dir=/usr/libexec/docker/cli-plugins
if ! docker compose version >/dev/null 2>&1; then
  log "Compose v2 plugin from Debian trixie's docker-compose package"
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/archives/partial"
  echo "deb $DEBIAN_MIRROR trixie main" >"$work/sources.list"
  apt_opts=(-o "Dir::State::Lists=$work/lists" -o "Dir::Etc::SourceList=$work/sources.list"
            -o "Dir::Etc::SourceParts=-" -o "Dir::Cache::Archives=$work/archives"
            -o "APT::Get::List-Cleanup=0")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" download docker-compose >/dev/null)
  dpkg -x "$work"/docker-compose_*.deb "$work/root"
  mkdir -p "$plugin_dir"
  install -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$plugin_dir/"
  rm -rf "$work"
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd"
  mkdir -p /var/log
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -50 /var/log/dockerd.log; exit 1; }
fi
docker compose version

if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
  log "building local/debian:bookworm with debootstrap"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >/dev/null
  tar -C "$rootfs" -c . | docker import - local/debian:bookworm
  rm -rf "$rootfs"
fi
log "provisioned"
