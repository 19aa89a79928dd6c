#!/usr/bin/env bash
# Runs CI (.ci/run) on Debian 13 from a Debian 12 host (or any Debian): a minimal
# Debian 13 root made by debootstrap from Debian's archive, a copy of this checkout
# inside it, and `bash .ci/run` run in it as CI runs it (root, CI=true). .ci/run
# installs what it needs there itself (maven, qemu-system-x86 = QEMU 10, busybox-static,
# fio, the guest kernel), so this checks the scripts as much as the tests.
#
# Usage: scripts/debian13-check.sh [--shell] [-- COMMAND...]
#   --shell     open a shell in the root (with the same mounts) instead of running CI
#   COMMAND     run this instead of `bash .ci/run` (in the copy of the checkout)
#
# Environment:
#   HVSPI_DEB13_ROOT  the root (default ${XDG_CACHE_HOME:-$HOME/.cache}/hvspi/trixie-root;
#                     made by `debootstrap --variant=minbase trixie` when missing or without
#                     its completion marker .hvspi-complete, about a minute and 215 MB; later
#                     runs reuse it with what earlier runs installed)
#   HVSPI_JDK         the JDK bind-mounted at the same path inside (default: the one
#                     cli/src/dist/bin/find-java --jdk picks on the host)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#
# Needs root and debootstrap. Copies ~/.m2/repository into the root once (saves
# downloads; Maven Central is still used for anything missing). Everything is
# unmounted on exit, even on failure. Prints the wall time of the command.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
root=${HVSPI_DEB13_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/hvspi/trixie-root}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
inside=/src/hvspi

log() { echo "debian13-check: $*" >&2; }
die() { echo "debian13-check: error: $*" >&2; exit 2; }

shell=0
command=(bash .ci/run)
while (($#)); do
    case $1 in
        --shell) shell=1; shift ;;
        --) shift; (($#)) || die "no command after --"; command=("$@"); break ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
        *) die "unknown argument '$1' (usage: debian13-check.sh [--shell] [-- COMMAND...])" ;;
    esac
done
[[ $(id -u) == 0 ]] || die "needs root (chroot, mount)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install -y debootstrap)"

# shellcheck source=../cli/src/dist/bin/find-java
. "$repo/cli/src/dist/bin/find-java"
if [[ -z ${HVSPI_JDK:-} ]]; then
    hvctl_find_java --jdk
    HVSPI_JDK=$HVCTL_JAVA_HOME
fi
[[ -x $HVSPI_JDK/bin/javac ]] || die "HVSPI_JDK=$HVSPI_JDK has no bin/javac"

# A root is reused only with its completion marker, written after debootstrap succeeded (as
# other-qemu.sh does): a debootstrap that failed half-way leaves usr/bin/apt-get behind too. It is
# made beside the root and renamed into place; --one-file-system keeps rm out of any mount a
# killed run left inside.
if [[ ! -f $root/.hvspi-complete ]]; then
    [[ ! -e $root ]] || log "$root has no completion marker (a debootstrap that failed, or a root made before the marker): making it again"
    log "making a Debian 13 root in $root (debootstrap, about a minute)"
    mkdir -p "$(dirname "$root")"
    rm -rf --one-file-system "$root.partial"
    if ! debootstrap --variant=minbase trixie "$root.partial" "$mirror" >&2; then
        rm -rf --one-file-system "$root.partial"
        die "debootstrap failed (is $mirror reachable?)"
    fi
    if [[ -e $root ]]; then
        rm -rf --one-file-system "$root" || die "cannot remove the incomplete $root (is something still mounted in it?)"
    fi
    mv "$root.partial" "$root"
    touch "$root/.hvspi-complete"
fi
[[ $(cut -d. -f1 "$root/etc/debian_version") == 13 ]] || die "$root is not Debian 13 ($(cat "$root/etc/debian_version"))"

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[$i]}" 2>/dev/null || umount -lR "${mounted[$i]}" || log "could not unmount ${mounted[$i]}"
    done
}
trap cleanup EXIT
bind() { # SOURCE TARGET [ro]
    mkdir -p "$2"
    mount --rbind "$1" "$2"
    mount --make-rslave "$2"
    [[ ${3:-} != ro ]] || mount -o remount,bind,ro "$2"
    mounted+=("$2")
}
for d in "$root"/proc "$root"/sys "$root"/dev "$root$HVSPI_JDK" "$root$(dirname "$inside")/shared"; do
    mountpoint -q "$d" && die "$d is already mounted (another check running, or one left over: umount -R it)"
done
mountpoint -q "$root" && die "$root is already a mount point (another check running, or one left over: umount -R it)"
# The root bound onto itself: inside the chroot, / is then a mount point as on a real
# Debian 13 host, so scripts/other-qemu.sh's `unshare --propagation private` works there.
mount --bind "$root" "$root"
mount --make-rslave "$root"
mounted+=("$root")
mkdir -p "$root/proc"
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
bind /sys "$root/sys"
bind /dev "$root/dev"          # with /dev/pts and /dev/shm
bind "$HVSPI_JDK" "$root$HVSPI_JDK" ro
# Tests read shared fixtures from ../shared next to the checkout, when it exists.
shared=$(dirname "$repo")/shared
[[ -d $shared ]] && bind "$shared" "$root$(dirname "$inside")/shared" ro
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

if [[ -d $HOME/.m2/repository && ! -d $root/root/.m2/repository ]]; then
    log "copying $HOME/.m2/repository into the root (once)"
    mkdir -p "$root/root/.m2"
    cp -a "$HOME/.m2/repository" "$root/root/.m2/"
fi

# A fresh copy of the checkout as it is now (tracked and untracked files, not ignored ones).
log "copying the checkout to $inside"
rm -rf "${root:?}$inside"
mkdir -p "$root$inside"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat --printf '%n\0' 2>/dev/null \
    | tar --null -T - -cf -) | tar -xf - -C "$root$inside"

env=(env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
     LANG=C.UTF-8 TERM="${TERM:-dumb}" CI=true)
if ((shell)); then
    chroot "$root" "${env[@]}" bash -c "cd $inside && exec bash -i"
    exit
fi
log "running in Debian $(cat "$root/etc/debian_version"): ${command[*]}"
start=$(date +%s)
rc=0
chroot "$root" "${env[@]}" bash -c 'cd "$0" && exec "$@"' "$inside" "${command[@]}" || rc=$?
log "exit code $rc after $(( $(date +%s) - start )) s of wall time"
exit "$rc"
