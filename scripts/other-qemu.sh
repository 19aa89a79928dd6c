#!/usr/bin/env bash
# Makes the "other" QEMU available beside the system one, so that the tests run every
# version-dependent path on two real binaries: on Debian 12 (QEMU 7.2) the other is
# Debian 13's QEMU 10.0; on Debian 13 (QEMU 10.0) it is Debian 12's QEMU 7.2.
#
# It is a minimal root made by `debootstrap --variant=minbase --include=qemu-system-x86`
# from Debian's archive (about 360 MB, about a minute), cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/hvspi/qemu-<release>-root, and a wrapper beside it
# (.../qemu-<release>) that runs the root's /usr/bin/qemu-system-x86_64 through chroot.
# The wrapper runs QEMU in a mount namespace of its own, where the host paths a VM's QEMU
# opens are bind-mounted at the same paths inside the root: /dev, /proc, /sys (read-only),
# /tmp, /run and the test guest cache (read-only). They go away with QEMU: the host never
# has /dev or /tmp mounted under the cache directory (where an rm -rf could reach them). Runtime directories must lie under /tmp or /run (tests use /tmp; hvctl's
# default is /run/hvspi). The pid namespace is shared: pids and thread ids are the host's.
#
# Idempotent and serialised (flock): later runs only check the root and print the path. The root
# is reused when its marker (.hvspi-complete) records the --include list this script makes it
# with and the qemu-system-x86 version the root's dpkg database holds; else it is made again.
# Prints the wrapper's path on stdout. Exit 0 when the wrapper works; 3 when it cannot be
# made here (not root, no debootstrap, no network), with the reason on stderr.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              HVSPI_OTHER_QEMU_RELEASE (bookworm|trixie; default: the release this host is not)
set -euo pipefail

log() { echo "other-qemu: $*" >&2; }
cannot() { echo "other-qemu: cannot make the other QEMU: $*" >&2; exit 3; }

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
host_major=$(cut -d. -f1 /etc/debian_version 2>/dev/null || echo unknown)
case ${HVSPI_OTHER_QEMU_RELEASE:-$host_major} in
    bookworm|13) release=bookworm; major=12 ;;
    trixie|12)   release=trixie;   major=13 ;;
    *) cannot "this host is not Debian 12 or 13 (/etc/debian_version: $host_major); set HVSPI_OTHER_QEMU_RELEASE" ;;
esac

cache=${XDG_CACHE_HOME:-$HOME/.cache}/hvspi
root=$cache/qemu-$release-root
wrapper=$cache/qemu-$release
guests=$cache/guest

[[ $# == 0 ]] || { echo "other-qemu: usage: other-qemu.sh (no arguments)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || cannot "needs root (debootstrap, chroot, mount)"
mkdir -p "$cache"
exec 9>"$cache/qemu-$release.lock"
flock 9

# What the root is made with, and what its marker (.hvspi-complete, written last) records with the
# QEMU package version it got: a root made with another --include list, or whose QEMU package is no
# longer the one recorded (changed inside the root, or a marker from before it recorded any), is
# made again instead of reused.
include=qemu-system-x86
root_qemu_version() { # the version dpkg in the root records for qemu-system-x86, or nothing
    dpkg-query --admindir="$1/var/lib/dpkg" -W -f='${Version}' qemu-system-x86 2>/dev/null || true
}
marker_for() { # ROOT -> the marker's contents for it
    printf 'include=%s\nqemu-system-x86=%s\n' "$include" "$(root_qemu_version "$1")"
}
reuse=false
if [[ -f $root/.hvspi-complete ]]; then
    recorded=$(cat "$root/.hvspi-complete")
    if [[ $recorded == "$(marker_for "$root")" && $recorded == "include=$include"$'\n'"qemu-system-x86="?* ]]; then
        reuse=true
    else
        log "the root in $root was made with other settings or has changed (marker: ${recorded//$'\n'/, }); making it again"
    fi
fi

if ! $reuse; then
    command -v debootstrap >/dev/null || cannot "debootstrap is missing (apt-get install -y debootstrap)"
    log "making a Debian $major root with QEMU in $root (debootstrap, about a minute)"
    rm -rf --one-file-system "$root.partial"
    start=$SECONDS
    if ! debootstrap --variant=minbase --include="$include" "$release" "$root.partial" "$mirror" \
            >"$cache/qemu-$release-debootstrap.log" 2>&1; then
        tail -5 "$cache/qemu-$release-debootstrap.log" >&2
        rm -rf --one-file-system "$root.partial"
        cannot "debootstrap $release from $mirror failed (network?); log: $cache/qemu-$release-debootstrap.log"
    fi
    rm -rf "$root.partial"/var/cache/apt/archives/*.deb
    marker=$(marker_for "$root.partial")
    [[ $marker == *"qemu-system-x86="?* ]] || cannot "debootstrap left no qemu-system-x86 in $root.partial's dpkg database"
    rm -rf --one-file-system "$root"
    mv "$root.partial" "$root"
    printf '%s\n' "$marker" >"$root/.hvspi-complete"
    log "made $root in $((SECONDS - start)) s ($(du -sh "$root" | cut -f1))"
fi

# Rewritten each time (cheap), so that a changed script changes the wrapper.
cat >"$wrapper.new" <<EOF
#!/bin/sh
# Debian $major's QEMU from $root, made by hvspi's scripts/other-qemu.sh.
# In a mount namespace of its own (the mounts end with QEMU, and nothing on the host
# ever sees the host's /dev or /tmp under the cache directory), the host paths QEMU
# opens are bind-mounted at the same paths. unshare, sh and chroot exec: QEMU keeps this pid.
exec unshare --mount --propagation private /bin/sh -c '
    root=\$1
    shift
    for d in /dev /proc /sys /tmp /run "$guests"; do
        [ -d "\$d" ] || continue
        mkdir -p "\$root\$d"
        mount --rbind "\$d" "\$root\$d" || exit 125
    done
    mount -o remount,bind,ro "\$root/sys" || exit 125
    [ ! -d "$guests" ] || mount -o remount,bind,ro "\$root$guests" || exit 125
    exec chroot "\$root" /usr/bin/qemu-system-x86_64 "\$@"
' other-qemu '$root' "\$@"
EOF
chmod 755 "$wrapper.new"
mv "$wrapper.new" "$wrapper"

version=$("$wrapper" --version 2>&1 | head -1) || cannot "$wrapper --version failed: $version"
[[ $version == "QEMU emulator version "* ]] || cannot "$wrapper --version printed: $version"
log "$version"
echo "$wrapper"
