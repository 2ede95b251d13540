#!/usr/bin/env bash
# Install the Debian packages imago needs, only those that are missing.
# One list, shared by the README, CI (.ci/run) and docker/Dockerfile.
# Idempotent: a second run installs nothing. Exit non-zero with a clear
# message when a package cannot be installed.
set -euo pipefail

PACKAGES=(
    make gcc libc6-dev binutils
    gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf binutils-arm-linux-gnueabihf libc6-dev-armhf-cross
    gcc-i686-linux-gnu binutils-i686-linux-gnu libc6-dev-i386-cross
    qemu-user
    libunicorn-dev libcapstone-dev llvm
    python3 python3-pytest python3-pytest-xdist
    strace
)

if [ "${1:-}" = "--list" ]; then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
    echo "install-deps: apt-get update failed; cannot install: ${missing[*]}" >&2
    exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-deps: apt-get install failed for: ${missing[*]}" >&2
    exit 1
fi
echo "install-deps: done"
