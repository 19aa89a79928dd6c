#!/usr/bin/env bash
# Builds the hvspi test guest: a Debian kernel and a busybox initramfs with the
# virtio-blk and virtio-net modules and fio, whose /init speaks the HVSPI line protocol on the
# serial console (docs/test-guest.md).
#
# Usage: scripts/build-guest.sh [--check] [CACHE_DIR]
#   CACHE_DIR  where the guest is built (default: ${XDG_CACHE_HOME:-$HOME/.cache}/hvspi/guest,
#              outside the checkout, so `mvn clean` and fresh worktrees keep it)
#   --check    build nothing: exit 0 (and print as below) if the cache is up to date,
#              1 if a build is needed
#
# On success prints, on stdout, one key=value per line:
#   kernel=<path>  initrd=<path>  kernel-version=<uname -r of the guest>
# Progress and errors go to stderr. Exit codes: 0 ok (or up to date), 1 cache stale
# (--check only), 2 missing Debian packages or tools, 3 build failed.
#
# Works on Debian 12 (kernel 6.1, modules as plain .ko under /lib/modules) and
# Debian 13 (kernel 6.12, modules as .ko.xz under /usr/lib/modules): the kernel is
# the one the machine's own apt offers. Needs busybox-static and fio installed,
# plus apt, dpkg, util-linux (flock), coreutils and gzip (all on every Debian
# system), and a reachable Debian mirror for `apt-get download` of the kernel package on a cold
# cache. The kernel package is downloaded and unpacked, never installed.
set -euo pipefail

readonly KERNEL_META=linux-image-amd64
# Modules the guest loads; their dependencies are added from each module's
# `depends=` field and the whole list is loaded dependencies first.
readonly GUEST_MODULES=(virtio_pci virtio_blk virtio_net)
# Kernel options the guest cannot work without (built in, not modules).
readonly REQUIRED_CONFIG=(CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP CONFIG_DEVTMPFS CONFIG_SERIAL_8250_CONSOLE
                          CONFIG_PCIEPORTBUS CONFIG_HOTPLUG_PCI_PCIE CONFIG_AIO)

log() { echo "build-guest: $*" >&2; }
die() { local code=$1; shift; echo "build-guest: error: $*" >&2; exit "$code"; }

check=0
cache=
for arg in "$@"; do
    case $arg in
        --check) check=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
        -*) die 2 "unknown option '$arg' (usage: build-guest.sh [--check] [CACHE_DIR])" ;;
        *) [[ -z $cache ]] || die 2 "more than one cache dir given: '$cache' and '$arg'"; cache=$arg ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${cache:-${XDG_CACHE_HOME:-$HOME/.cache}/hvspi/guest}
sources=("$here/build-guest.sh" "$here/guest/init")

# Tools first, each named with the Debian package that provides it.
missing=()
for tool in apt-get:apt apt-cache:apt dpkg-deb:dpkg dpkg-query:dpkg ldd:libc-bin flock:util-linux \
            gzip:gzip sha256sum:coreutils stat:coreutils; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
declare -A tool_version=()
for pkg in busybox-static fio; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' "$pkg" 2>/dev/null || true)
    if [[ $status == ii\ * ]]; then
        tool_version[$pkg]=${status##* }
    else
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    die 2 "missing Debian packages: ${pkgs% } (install them: apt-get install -y ${pkgs% })"
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# One builder at a time per cache (test JVMs of several modules may start together).
exec 9>"$cache/.lock"
flock 9

apt_lists_fingerprint() {
    # Which kernel apt offers changes only when the package lists change; hashing
    # their names, sizes and mtimes avoids a slow apt-cache call on a warm cache.
    { stat -c '%n %s %Y' /var/lib/apt/lists/*Packages* 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
}

resolve_kernel() {
    # The metapackage depends on exactly one ABI package at an exact version.
    local dep
    dep=$(apt-cache show --no-all-versions "$KERNEL_META" 2>/dev/null \
          | sed -n 's/^Depends: .*\(linux-image-[0-9][^ ,]*-amd64\) (= \([^)]*\)).*/\1 \2/p' | head -n1)
    [[ -n $dep ]] || die 2 "apt has no candidate for $KERNEL_META (run apt-get update)"
    echo "$dep"
}

stamp_value() { sed -n "s/^$1=//p" "$cache/stamp" 2>/dev/null | head -n1; }

sources_hash=$(cat "${sources[@]}" | sha256sum | cut -d' ' -f1)
lists=$(apt_lists_fingerprint)
if [[ -f $cache/stamp && $(stamp_value apt-lists) == "$lists" ]]; then
    kernel_pkg=$(stamp_value kernel-package)
    kernel_pkg_version=$(stamp_value kernel-package-version)
else
    kernel=$(resolve_kernel)
    read -r kernel_pkg kernel_pkg_version <<<"$kernel"
fi

# Everything the outputs are made from; the cache is warm when the stamp matches.
make_inputs() {
    inputs="kernel-package=$kernel_pkg
kernel-package-version=$kernel_pkg_version
busybox-static=${tool_version[busybox-static]}
fio=${tool_version[fio]}
guest-sources=$sources_hash"
}
make_inputs

print_result() {
    echo "kernel=$cache/vmlinuz"
    echo "initrd=$cache/initrd.img"
    echo "kernel-version=$(stamp_value kernel-version)"
}

if [[ -f $cache/stamp && -f $cache/vmlinuz && -f $cache/initrd.img ]] \
        && [[ $(grep -v -e '^apt-lists=' -e '^kernel-version=' "$cache/stamp") == "$inputs" ]]; then
    if [[ $(stamp_value apt-lists) != "$lists" ]]; then
        { echo "$inputs"; echo "kernel-version=$(stamp_value kernel-version)"; echo "apt-lists=$lists"; } \
            > "$cache/stamp.tmp" && mv "$cache/stamp.tmp" "$cache/stamp"
    fi
    ((check)) || log "up to date ($kernel_pkg $kernel_pkg_version)"
    print_result
    exit 0
fi
if ((check)); then
    log "stale: a build is needed ($kernel_pkg $kernel_pkg_version)"
    exit 1
fi

log "building in $cache ($kernel_pkg $kernel_pkg_version, busybox-static ${tool_version[busybox-static]}, fio ${tool_version[fio]})"
rm -f "$cache/stamp"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Kernel package: downloaded once into debs/, older ones dropped.
mkdir -p "$cache/debs"
deb=$(find "$cache/debs" -maxdepth 1 -name "${kernel_pkg}_*.deb" -print | head -n1)
if [[ -z $deb || $(dpkg-deb -f "$deb" Version 2>/dev/null) != "$kernel_pkg_version" ]]; then
    log "downloading $kernel_pkg $kernel_pkg_version"
    rm -f "$cache"/debs/*.deb
    # Sandbox user root: the _apt user cannot write into a cache under someone's home or /work.
    download() { (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$kernel_pkg=$kernel_pkg_version" >&2); }
    if ! download; then
        # Package lists older than the archive (install-deps.sh updates them only when something is
        # missing) name a kernel ABI Debian may have removed since: as root, update them, resolve the
        # kernel again and retry once.
        (( $(id -u) == 0 )) \
            || die 3 "apt-get download $kernel_pkg=$kernel_pkg_version failed (is a Debian mirror reachable? if apt's lists are old, run apt-get update as root)"
        log "apt-get download $kernel_pkg=$kernel_pkg_version failed: updating apt's package lists, then once more"
        apt-get update -qq >&2 || die 3 "apt-get update failed (is a Debian mirror reachable?)"
        old_pkg="$kernel_pkg $kernel_pkg_version"
        kernel=$(resolve_kernel)
        read -r kernel_pkg kernel_pkg_version <<<"$kernel"
        lists=$(apt_lists_fingerprint)
        make_inputs
        [[ "$kernel_pkg $kernel_pkg_version" == "$old_pkg" ]] || log "the kernel is now $kernel_pkg $kernel_pkg_version"
        download || die 3 "apt-get download $kernel_pkg=$kernel_pkg_version failed after apt-get update (is a Debian mirror reachable?)"
    fi
    deb=$(find "$cache/debs" -maxdepth 1 -name "${kernel_pkg}_*.deb" -print | head -n1)
    [[ -n $deb ]] || die 3 "apt-get download left no ${kernel_pkg}_*.deb in $cache/debs"
fi

log "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$work/pkg"
vmlinuz=$(find "$work/pkg/boot" -maxdepth 1 -name 'vmlinuz-*' -print | head -n1)
config=$(find "$work/pkg/boot" -maxdepth 1 -name 'config-*' -print | head -n1)
[[ -n $vmlinuz && -n $config ]] || die 3 "$deb has no /boot/vmlinuz-* or /boot/config-*"
kver=${vmlinuz##*/vmlinuz-}
# Debian 12 ships modules in /lib/modules, Debian 13 (merged /usr) in /usr/lib/modules.
moddir=
for dir in "$work/pkg/lib/modules/$kver" "$work/pkg/usr/lib/modules/$kver"; do
    [[ -d $dir ]] && { moddir=$dir; break; }
done
[[ -n $moddir ]] || die 3 "$deb has no /lib/modules/$kver or /usr/lib/modules/$kver"
for opt in "${REQUIRED_CONFIG[@]}"; do
    grep -q "^$opt=y\$" "$config" || die 3 "kernel $kver lacks $opt=y, which the test guest needs"
done

# Module name (dashes as underscores) -> path of its file, from modules.order. The list
# names plain .ko files even where the package ships them compressed (Debian 13: .ko.xz).
declare -A modpath=()
while read -r rel; do
    name=${rel##*/}; name=${name%%.ko*}; rel=${rel%.ko*}.ko
    for ext in "" .xz .gz .zst; do
        if [[ -f $moddir/$rel$ext ]]; then modpath[${name//-/_}]=$rel$ext; break; fi
    done
done <"$moddir/modules.order"
# A module as a plain ELF object on stdout: the guest's busybox insmod reads only those.
module_contents() {
    case $1 in
        *.ko) cat "$moddir/$1" ;;
        *.ko.xz) busybox xzcat "$moddir/$1" ;;
        *.ko.gz) gzip -dc "$moddir/$1" ;;
        *.ko.zst) command -v zstd >/dev/null || die 2 "module $1 is zstd-compressed: install zstd"
                  zstd -q -dc "$moddir/$1" ;;
    esac
}
declare -A seen=()
load_order=()
add_module() {
    local name=${1//-/_} dep
    [[ -z ${seen[$name]:-} ]] || return 0
    seen[$name]=1
    if [[ -z ${modpath[$name]:-} ]]; then
        grep -q "/${name}.ko\$" "$moddir/modules.builtin" || die 3 "kernel $kver has no module $name"
        log "module $name is built in"
        return 0
    fi
    local info
    info=$(module_contents "${modpath[$name]}" | tr '\0' '\n' | sed -n 's/^depends=//p') \
        || die 3 "cannot read module $name (${modpath[$name]})"
    for dep in ${info//,/ }; do
        add_module "$dep"
    done
    load_order+=("$name")
}
for m in "${GUEST_MODULES[@]}"; do add_module "$m"; done
log "modules, in load order: ${load_order[*]}"

# The initramfs tree.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,usr/bin,lib/modules/"$kver"}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$here/guest/init" "$root/init"
for m in "${load_order[@]}"; do
    module_contents "${modpath[$m]}" >"$root/lib/modules/$kver/$m.ko" || die 3 "cannot unpack module $m (${modpath[$m]})"
done
printf '%s\n' "${load_order[@]}" >"$root/etc/hvspi-modules"

# fio is dynamically linked: copy every library ldd resolves, at the same path.
cp "$(command -v fio)" "$root/usr/bin/fio"
libs=$(ldd "$(command -v fio)") || die 3 "ldd $(command -v fio) failed"
if grep -q 'not found' <<<"$libs"; then
    die 3 "fio needs libraries that are missing on this host: $(grep 'not found' <<<"$libs" | tr -s ' \t\n' ' ')"
fi
for lib in $(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$libs"); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

log "packing initramfs"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "$root/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) \
    | gzip -n -6 >"$work/initrd.img"

# Both outputs are written in the work dir and renamed into place, the kernel first: a QEMU that
# starts meanwhile opens whole files, never a half-copied kernel (cp rewrote vmlinuz in place).
# Between the two renames a new kernel may meet the old initrd; the stamp, rewritten last, is
# gone during the build, and the tests wait on the build's lock before they boot.
cp "$vmlinuz" "$work/vmlinuz"
mv "$work/vmlinuz" "$cache/vmlinuz"
mv "$work/initrd.img" "$cache/initrd.img"
{ echo "$inputs"; echo "kernel-version=$kver"; echo "apt-lists=$lists"; } >"$cache/stamp.tmp"
mv "$cache/stamp.tmp" "$cache/stamp"
log "built: kernel $kver, initramfs $(( $(stat -c %s "$cache/initrd.img") / 1024 / 1024 )) MiB"
print_result
