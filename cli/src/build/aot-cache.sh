#!/usr/bin/env bash
# Trains the distribution's AOT cache, lib/hvctl.aot (JEP 483/514, JDK 25 and newer), at
# package time, and stamps it with the JDK that made it and the checksums of the cache and
# of the jars (lib/hvctl.aot.jdk), which bin/hvctl compares with the JDK it runs (and, for
# a cache or jar newer than its stamp, with the files) before it uses the cache.
#
#   aot-cache.sh DIST [true|false]     (false: no cache; Maven: -Dhvctl.aot=false)
#
# The training and the stamp are the distribution's bin/hvctl-aot (one `bin/hvctl plugins`,
# about 2 s of CPU, once per build), which an operator runs again after a JDK update.
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
# the training and the stamp: what an operator runs again after a JDK update
if ! "$dist/bin/hvctl-aot"; then
    echo "hvctl: warning: no AOT cache; the distribution starts without one" >&2
fi
