#!/usr/bin/env bash
# Makes the "other" QEMU available beside the system one, so that the tests run every
# version-dependent path on two real binaries: on Debian 12 (QEMU 7.2) the other is
# Debian 13's QEMU 10.0; on Debian 13 (QEMU 10.0) it is Debian 12's QEMU 7.2.
#
# It is a minimal root made by `debootstrap --variant=minbase --include=qemu-system-x86`
# from Debian's archive (about 360 MB, about a minute), cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/hvspi/qemu-<release>-root, and a wrapper beside it
# (.../qemu-<release>) that runs the root's /usr/bin/qemu-system-x86_64 through chroot.
# The wrapper bind-mounts, once, the host paths a VM's QEMU opens at the same paths
# inside the root: /dev, /proc, /sys (read-only), /tmp, /run and the test guest cache
# (read-only). Runtime directories must lie under /tmp or /run (tests use /tmp; hvctl's
# default is /run/hvspi). The pid namespace is shared: pids and thread ids are the host's.
#
# Idempotent and serialised (flock): later runs only check the root and print the path.
# Prints the wrapper's path on stdout. Exit 0 when the wrapper works; 3 when it cannot be
# made here (not root, no debootstrap, no network), with the reason on stderr.
#
# The mounts stay (they are made once, not per VM); `other-qemu.sh --unmount` removes them
# (the next run of the wrapper makes them again).
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

if [[ ${1:-} == --unmount ]]; then
    for d in "$root"/{dev,proc,sys,tmp,run} "$root$guests"; do
        ! mountpoint -q "$d" || umount -R "$d" || umount -lR "$d"
    done
    exit 0
fi
[[ $# == 0 ]] || { echo "other-qemu: usage: other-qemu.sh [--unmount]" >&2; exit 2; }
[[ $(id -u) == 0 ]] || cannot "needs root (debootstrap, chroot, mount)"
mkdir -p "$cache"
exec 9>"$cache/qemu-$release.lock"
flock 9

if [[ ! -f $root/.hvspi-complete ]]; then
    command -v debootstrap >/dev/null || cannot "debootstrap is missing (apt-get install -y debootstrap)"
    log "making a Debian $major root with QEMU in $root (debootstrap, about a minute)"
    rm -rf --one-file-system "$root.partial"
    start=$SECONDS
    if ! debootstrap --variant=minbase --include=qemu-system-x86 "$release" "$root.partial" "$mirror" \
            >"$cache/qemu-$release-debootstrap.log" 2>&1; then
        tail -5 "$cache/qemu-$release-debootstrap.log" >&2
        rm -rf --one-file-system "$root.partial"
        cannot "debootstrap $release from $mirror failed (network?); log: $cache/qemu-$release-debootstrap.log"
    fi
    rm -rf "$root.partial"/var/cache/apt/archives/*.deb
    rm -rf --one-file-system "$root"
    mv "$root.partial" "$root"
    touch "$root/.hvspi-complete"
    log "made $root in $((SECONDS - start)) s ($(du -sh "$root" | cut -f1))"
fi

# Rewritten each time (cheap), so that a changed script changes the wrapper.
cat >"$wrapper.new" <<EOF
#!/bin/sh
# Debian $major's QEMU from $root, made by hvspi's scripts/other-qemu.sh.
# Bind-mounts (once, under a lock) the host paths QEMU opens, at the same paths.
root='$root'
if ! mountpoint -q "\$root/tmp" || ! mountpoint -q "\$root/proc"; then
    exec 9>'$cache/qemu-$release.mount-lock'
    flock 9
    for d in /dev /proc /sys /tmp /run '$guests'; do
        [ -d "\$d" ] || continue
        mountpoint -q "\$root\$d" && continue
        mkdir -p "\$root\$d"
        mount --rbind "\$d" "\$root\$d"
        mount --make-rslave "\$root\$d"
        case \$d in /sys|'$guests') mount -o remount,bind,ro "\$root\$d" ;; esac
    done
    exec 9>&-
fi
exec chroot "\$root" /usr/bin/qemu-system-x86_64 "\$@"
EOF
chmod 755 "$wrapper.new"
mv "$wrapper.new" "$wrapper"

version=$("$wrapper" --version 2>&1 | head -1) || cannot "$wrapper --version failed: $version"
[[ $version == "QEMU emulator version "* ]] || cannot "$wrapper --version printed: $version"
log "$version"
echo "$wrapper"
