#!/usr/bin/env bash
# Trains the distribution's AOT cache, lib/hvctl.aot (JEP 483/514, JDK 25 and newer), at
# package time, and stamps it with the JDK that made it and the checksums of the cache and
# of the jars (lib/hvctl.aot.jdk), which bin/hvctl compares with the JDK it runs (and, for
# a cache or jar newer than its stamp, with the files) before it uses the cache.
#
#   aot-cache.sh DIST [true|false]     (false: no cache; Maven: -Dhvctl.aot=false)
#
# The training is one `bin/hvctl plugins` (about 2 s of CPU, once per build): it loads
# picocli and builds a command's model, sets up logging, and loads the plugins through
# pf4j, which is most of what any command loads before its own work. The JVM runs it
# through bin/hvctl itself, so its class path and options are the ones every start uses.
# Before it, jars with classes older than Java 6 (picocli) are rewritten as Java 8 class
# files (OldClassFiles.java): the JVM leaves such classes out of a cache. A JDK older than
# 25, or a training that fails, leaves no cache: bin/hvctl then starts as it did before
# there was one (and lib/ keeps the jars as Maven resolved them).
set -euo pipefail
dist=$1
lib=$dist/lib
rm -f "$lib/hvctl.aot" "$lib/hvctl.aot.jdk"
if [ "${2:-true}" != true ]; then
    echo "hvctl: no AOT cache (hvctl.aot=${2})"
    exit 0
fi
# shellcheck source=../dist/bin/find-java
. "$dist/bin/find-java"
hvctl_find_java
_hvctl_java_major "$HVCTL_JAVA_HOME"
if [ "$HVCTL_JAVA_MAJOR" -lt 25 ]; then
    echo "hvctl: no AOT cache: $HVCTL_JAVA_HOME is Java $HVCTL_JAVA_MAJOR (one needs 25 or newer)"
    exit 0
fi
# classes from before Java 6 (picocli's) are left out of a cache unless rewritten
if ! "$HVCTL_JAVA_HOME/bin/java" -cp "$lib/*" "${BASH_SOURCE[0]%/*}/OldClassFiles.java" "$lib"/*.jar; then
    echo "hvctl: warning: old class files not rewritten; the AOT cache will lack them" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! HVSPI_JAVA_HOME="$HVCTL_JAVA_HOME" HVSPI_RUNTIME_DIR="$work/run" HVCTL_NO_AOT=1 \
        HVCTL_JAVA_OPTS="-XX:AOTCacheOutput=$lib/hvctl.aot" "$dist/bin/hvctl" plugins >"$work/log" 2>&1 \
        || [ ! -s "$lib/hvctl.aot" ]; then
    tail -20 "$work/log" >&2
    rm -f "$lib/hvctl.aot"
    echo "hvctl: warning: the AOT cache's training run failed; the distribution starts without one" >&2
    exit 0
fi
hvctl_jdk_stamp "$HVCTL_JAVA_HOME"
# the stamp: the JDK, then the checksums of the cache and of the jars, for bin/hvctl to check
# a cache or a jar written after it
printf '%s\n%s\n%s\n' "$HVCTL_JDK_STAMP" "$(cksum <"$lib/hvctl.aot")" "$(hvctl_jars_sum "$lib")" \
    >"$lib/hvctl.aot.jdk"
echo "hvctl: AOT cache for $HVCTL_JDK_STAMP: $lib/hvctl.aot ($(($(stat -c %s "$lib/hvctl.aot") / 1048576)) MB)"
