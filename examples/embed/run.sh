#!/usr/bin/env bash
# Builds hvspi from this checkout, installs its artifacts into a private Maven
# repository under target/ (never ~/.m2), then builds and runs the embedding
# example against them: a VM with two hotplugged disks, its IOThreads, stopped.
#   usage: examples/embed/run.sh [--accel auto|kvm|tcg]
set -euo pipefail
accel=auto
while [ $# -gt 0 ]; do
    case "$1" in
        --accel) [ $# -ge 2 ] || { echo "run.sh: --accel needs auto, kvm or tcg" >&2; exit 2; }
                 accel=$2; shift 2 ;;
        *) echo "usage: run.sh [--accel auto|kvm|tcg]" >&2; exit 2 ;;
    esac
done
case "$accel" in auto|kvm|tcg) ;; *) echo "run.sh: --accel must be auto, kvm or tcg, got '$accel'" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
repo=$here/target/m2
# hvspi's version, the one this build installs
version=$(sed -n 's:^  <version>\(.*\)</version>$:\1:p' "$root/pom.xml" | head -1)

if [ ! -d "$repo" ]; then
    # seeded from ~/.m2 once (copied, never linked: Maven updates some files in place)
    mkdir -p "$here/target"
    cp -a "${M2_REPO:-$HOME/.m2/repository}" "$repo.tmp"
    mv "$repo.tmp" "$repo"
fi
. "$root/cli/src/dist/bin/find-java"
hvctl_find_java --jdk
export JAVA_HOME=$HVCTL_JAVA_HOME
# online: a fresh machine may lack a build plugin that the tests never needed (install, dependency)
mvn=(mvn -B -q -Dmaven.repo.local="$repo")

echo "run.sh: building hvspi $version into $repo" >&2
"${mvn[@]}" -f "$root/pom.xml" -DskipTests -Dmaven.javadoc.skip=true install
echo "run.sh: building the example" >&2
"${mvn[@]}" -f "$here/pom.xml" -Dhvspi.version="$version" package

dist=$root/cli/target/hvctl
export HVSPI_RUNTIME_DIR=${HVSPI_RUNTIME_DIR:-$here/target/run}
exec "$HVCTL_JAVA_HOME/bin/java" -cp "$here/target/classes:$(cat "$here/target/classpath")" example.Embed \
    "$dist/plugins" "$dist/etc/configuration.toml" "$accel"
