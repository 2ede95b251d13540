#!/usr/bin/env bash
# Install the Debian packages imago needs, only those that are missing.
# One list, shared by the README, CI (.ci/run, .github/workflows/ci.yml) and
# docker/Dockerfile.
# Idempotent: a second run installs nothing. Exit non-zero with a clear
# message when a package cannot be installed.
#
#   bash ci/install-deps.sh                    install what is missing
#   bash ci/install-deps.sh --list             print this machine's list, one per line
#   bash ci/install-deps.sh --arch arm64 --list  print another build machine's list
#
# The list depends on the build machine's architecture (dpkg --print-architecture).
# imago builds code for four targets and always calls the GNU tools by triplet
# (x86_64-linux-gnu-, i686-linux-gnu-, arm-linux-gnueabihf-, aarch64-linux-gnu-
# gcc/as/ld/objdump/objcopy). The native gcc and binutils provide the machine's
# own triplet; the three others come from cross packages:
#
#   amd64: native x86_64-linux-gnu-*; cross i686, arm-linux-gnueabihf, aarch64
#   arm64: native aarch64-linux-gnu-*; cross x86-64, i686, arm-linux-gnueabihf
#
# Whether the cross packages exist for an arm64 build machine (looked up on
# packages.debian.org and packages.ubuntu.com; not yet confirmed by an install):
#   - Debian 12 (bookworm), arm64, main: gcc-arm-linux-gnueabihf (its file list
#     is published for bookworm/arm64); gcc-i686-linux-gnu (its siblings
#     g++-/cpp-i686-linux-gnu and gcc-12-i686-linux-gnu-base have bookworm/arm64
#     file lists); gcc-x86-64-linux-gnu (gcc-11-x86-64-linux-gnu and
#     gcc-12-multilib-x86-64-linux-gnu have bookworm/arm64 file lists; the
#     package's own bookworm file lists were found for i386 and ppc64el, and for
#     arm64 in later releases). The native gcc package of arm64 ships
#     /usr/bin/aarch64-linux-gnu-gcc. The libc6-dev-*-cross packages
#     (cross-toolchain-base: -i386-, -armhf-, -amd64-cross) are Architecture:
#     all, so they install on any build machine.
#   - Ubuntu 24.04 (noble), arm64 (ports archive): gcc-14-i686-linux-gnu (arm64
#     in noble and noble-updates), cpp-arm-linux-gnueabihf (from gcc-defaults,
#     the source of gcc-arm-linux-gnueabihf), cpp-/g++-x86-64-linux-gnu and
#     gcc-14-x86-64-linux-gnu-base are published for arm64; libc6-dev-i386-cross
#     and libc6-dev-amd64-cross are Architecture: all. libunicorn-dev
#     (2.0.1.post1), libcapstone-dev and qemu-user (8.2.2: the package is still
#     called qemu-user on 24.04) exist for amd64 and arm64. On Ubuntu the cross,
#     emulator and library packages are in "universe", which GitHub's runner
#     images enable.
# No arm64 machine was at hand when this was written: the arm64 list is exercised
# by CI's ubuntu-24.04-arm job and by docker buildx --platform linux/arm64.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: bash ci/install-deps.sh [--arch ARCH] [--list]
  (no option)  install the missing packages of this machine's architecture
  --list       print the package list, one per line, and exit
  --arch ARCH  the build machine's Debian architecture (amd64 or arm64) instead of
               dpkg --print-architecture; without --list it must be this machine's
EOF
}

list=0
arch=""
while [ $# -gt 0 ]; do
    case "$1" in
    --list) list=1 ;;
    --arch)
        if [ $# -lt 2 ] || [ -z "$2" ]; then
            echo "install-deps: --arch needs an architecture (amd64 or arm64)" >&2
            exit 2
        fi
        arch="$2"
        shift
        ;;
    --arch=*) arch="${1#--arch=}" ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "install-deps: unknown argument '$1'" >&2
        usage >&2
        exit 2
        ;;
    esac
    shift
done

machine_arch=""
if command -v dpkg >/dev/null 2>&1; then
    machine_arch="$(dpkg --print-architecture)"
fi
if [ -z "$arch" ]; then
    if [ -z "$machine_arch" ]; then
        echo "install-deps: dpkg not found: this script needs a Debian or Ubuntu machine" >&2
        echo "install-deps: (use --arch amd64|arm64 --list to print a list anyway)" >&2
        exit 1
    fi
    arch="$machine_arch"
fi

# `make fuzz` (docs/testing.md, "Fuzzing"): clang with libFuzzer. On Debian 12 libFuzzer
# (libclang_rt.fuzzer-<arch>.a) is in libclang-rt-14-dev, which the llvm-defaults package
# libclang-rt-dev pulls in for the default clang (checked with apt-cache/dpkg -L on bookworm;
# there is no separate libfuzzer package for clang 14 to install). Ubuntu 24.04 has both
# names in llvm-defaults too (not yet confirmed by an install). `make test` needs neither:
# its replay of the fuzz corpus is built with gcc.
FUZZ=(clang libclang-rt-dev)
# Needed on every build machine.
COMMON=(
    make gcc libc6-dev binutils
    qemu-user
    libunicorn-dev libcapstone-dev llvm
    python3 python3-pytest python3-pytest-xdist python3-yaml
    strace
    g++
    "${FUZZ[@]}"
)
# The peers of `make bench` (docs/bench.md), by build machine: xbyak is published for
# amd64 only (Debian and Ubuntu); asmjit for amd64 and arm64 (and more); Zydis for
# amd64, arm64, armhf, i386 and more (packages.debian.org, packages.ubuntu.com). The
# bench names an absent peer and carries on without it.
BENCH_AMD64=(libasmjit-dev libxbyak-dev libzydis-dev)
BENCH_ARM64=(libasmjit-dev libzydis-dev)
# The cross toolchains of the targets that are not the machine's own.
CROSS_X86_64=(gcc-x86-64-linux-gnu binutils-x86-64-linux-gnu libc6-dev-amd64-cross)
CROSS_I386=(gcc-i686-linux-gnu binutils-i686-linux-gnu libc6-dev-i386-cross)
CROSS_ARM=(gcc-arm-linux-gnueabihf binutils-arm-linux-gnueabihf libc6-dev-armhf-cross)
CROSS_AARCH64=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross)

case "$arch" in
amd64) PACKAGES=("${COMMON[@]}" "${CROSS_AARCH64[@]}" "${CROSS_ARM[@]}" "${CROSS_I386[@]}"
    "${BENCH_AMD64[@]}") ;;
arm64) PACKAGES=("${COMMON[@]}" "${CROSS_X86_64[@]}" "${CROSS_ARM[@]}" "${CROSS_I386[@]}"
    "${BENCH_ARM64[@]}") ;;
*)
    echo "install-deps: unsupported build machine architecture '$arch':" \
        "imago's package list exists for amd64 and arm64 only" >&2
    exit 1
    ;;
esac

if [ "$list" -eq 1 ]; then
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi

if [ "$arch" != "$machine_arch" ]; then
    echo "install-deps: --arch $arch is not this machine's architecture" \
        "(${machine_arch:-unknown}); another architecture's list can only be printed (--list)" >&2
    exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present ($arch)"
    exit 0
fi

echo "install-deps: installing ($arch) ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
# sudo resets the environment: pass DEBIAN_FRONTEND through env(1).
APT=(env DEBIAN_FRONTEND=noninteractive apt-get)
if [ -n "$SUDO" ]; then
    APT=("$SUDO" "${APT[@]}")
fi
if ! "${APT[@]}" update -qq; then
    echo "install-deps: apt-get update failed; cannot install: ${missing[*]}" >&2
    exit 1
fi
if ! "${APT[@]}" install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "install-deps: apt-get install failed for: ${missing[*]}" >&2
    echo "install-deps: (on Ubuntu these packages are in the 'universe' component)" >&2
    exit 1
fi
echo "install-deps: done"
