#!/usr/bin/env bash
# Installs the Debian packages hvspi's tests and `hvctl run` need, if any is
# missing. Quick when everything is there; needs root (or sudo) otherwise.
set -euo pipefail

packages=(
    maven                 # builds hvspi
    qemu-system-x86       # the VMM the QEMU plugin drives (tests use real QEMU)
    qemu-utils            # qemu-img, for test images
    busybox-static        # the test guest's userland
    fio                   # guest IO in end-to-end tests and hvctl bench io
    ca-certificates       # apt-get download of the guest kernel over https mirrors
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# the test guest's kernel is downloaded (not installed) by scripts/build-guest.sh,
# which needs apt's package lists to know it
lists_ok=true
apt-cache show --no-all-versions linux-image-amd64 >/dev/null 2>&1 || lists_ok=false
[ ${#missing[@]} -eq 0 ] && $lists_ok && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: error: run as root to install: ${missing[*]:-apt package lists}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
