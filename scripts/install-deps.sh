#!/usr/bin/env bash
# Installs the Debian packages hvspi's tests and `hvctl run` need, if any is
# missing. Quick when everything is there; needs root (or sudo) otherwise.
# The same list serves Debian 12 (QEMU 7.2) and Debian 13 (QEMU 10.0).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

packages=(
    maven                 # builds hvspi
    qemu-system-x86       # the VMM the QEMU plugin drives (tests use real QEMU)
    qemu-utils            # qemu-img, for test images
    busybox-static        # the test guest's userland
    fio                   # guest IO in end-to-end tests and hvctl bench io
    ca-certificates       # apt-get download of the guest kernel over https mirrors
    procps                # kill(1), which the fault tests use (a minimal Debian 13 lacks it)
    iproute2              # ip(8): hvspi makes and removes taps for NIC hotplug (a minimal Debian lacks it)
    debootstrap           # scripts/other-qemu.sh: the other Debian release's QEMU for the tests
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# the test guest's kernel is downloaded (not installed) by scripts/build-guest.sh,
# which needs apt's package lists to know it
lists_ok=true
apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1 || lists_ok=false
# Building needs a JDK 21+. Debian 13 packages one (and its maven brings only a JRE);
# Debian 12 does not, so there the machine must provide one (HVSPI_JAVA_HOME, JAVA_HOME
# or /usr/lib/jvm): scripts/test says so if it cannot find it.
# shellcheck source=../cli/src/dist/bin/find-java
. "$repo/cli/src/dist/bin/find-java"
need_jdk=false
hvctl_find_java --jdk 2>/dev/null || need_jdk=true
[ ${#missing[@]} -eq 0 ] && $lists_ok && ! $need_jdk && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    wanted="${missing[*]}"
    $need_jdk && wanted+="${wanted:+ }a JDK 21+ (openjdk-21-jdk-headless where Debian has it)"
    command -v sudo >/dev/null || { echo "install-deps: error: run as root to install: ${wanted:-apt package lists}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
if $need_jdk && apt-cache show --no-all-versions openjdk-21-jdk-headless >/dev/null 2>&1; then
    missing+=(openjdk-21-jdk-headless)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
