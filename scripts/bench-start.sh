#!/usr/bin/env bash
# How fast hvctl starts: CPU (user + sys) and wall time of `bin/hvctl --version`,
# `bin/hvctl plugins` and a hello-world class on the same JDK, and what the root
# `./hvctl` launcher adds to the distribution's `bin/hvctl` when nothing changed.
# With the distribution's AOT cache, also `plugins` without it (HVCTL_NO_AOT=1).
# Medians over N runs, interleaved so that load from other builds hits all alike;
# the ratios (from one run) are the figures, not the absolute times.
#
#   scripts/bench-start.sh [-n RUNS] [DIST]     (DIST: default cli/target/hvctl)
#
# A shell script and not an hvctl command: a JVM cannot time its own start, nor the
# shell launcher in front of it. Needs a JDK (javac compiles the hello-world class);
# the root launcher is timed only when DIST is this checkout's distribution and is
# up to date (it would otherwise build).
set -euo pipefail
repo=$(dirname "$(dirname "$(readlink -f "$0")")")
runs=9
if [ "${1:-}" = -n ]; then
    runs=$2
    shift 2
fi
dist=$(readlink -f "${1:-$repo/cli/target/hvctl}")
[ -x "$dist/bin/hvctl" ] || { echo "bench-start: no distribution at $dist (build it: ./hvctl --version)" >&2; exit 2; }
# shellcheck source=../cli/src/dist/bin/find-java
. "$repo/cli/src/dist/bin/find-java"
hvctl_find_java --jdk --aot-lib "$dist/lib"
java_home=$HVCTL_JAVA_HOME
# every side on this one Java: bin/hvctl and ./hvctl would otherwise pick their own (PATH's
# java can be another, and then neither the ratios nor the AOT cache hold)
export HVSPI_JAVA_HOME=$java_home

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/Hello.java" <<'EOF'
public class Hello {
    public static void main(String[] args) {
        System.out.println("hello");
    }
}
EOF
"$java_home/bin/javac" -d "$work" "$work/Hello.java"

# the commands, by name; each prints nothing we keep
names=(hello version plugins)
declare -A cmd=(
    [hello]="\"$java_home/bin/java\" -cp \"$work\" Hello"
    [version]="\"$dist/bin/hvctl\" --version"
    [plugins]="\"$dist/bin/hvctl\" plugins"
)
# what the distribution's AOT cache buys, when it has one for this JDK
if [ -f "$dist/lib/hvctl.aot" ]; then
    names+=(plugins_noaot)
    cmd[plugins_noaot]="HVCTL_NO_AOT=1 \"$dist/bin/hvctl\" plugins"
fi
root_launcher=0
if [ "$dist" = "$(readlink -f "$repo/cli/target/hvctl")" ] && [ -f "$dist/.built" ]; then
    # warm it once: a stale checkout builds here, not inside the timing
    "$repo/hvctl" --version >/dev/null
    names+=(root)
    cmd[root]="\"$repo/hvctl\" --version"
    root_launcher=1
fi

# A command that fails is no figure (a start that ends at an error is fast): the bench stops,
# with the command and the end of what it printed
failed() { # NAME STATUS OUTPUT-FILE
    echo "bench-start: error: $1 (${cmd[$1]}) failed with exit status $2:" >&2
    tail -20 "$3" >&2
    exit 1
}

# one timed run: "wall cpu" in seconds (bash's time: the child's user + sys), or exit status
# and nothing else when the command fails
one() {
    local TIMEFORMAT='%R %U %S' t rc=0
    t=$( { time eval "$1" >/dev/null 2>"$work/one.err"; } 2>&1 ) || rc=$?
    if [ "$rc" != 0 ]; then
        echo "$rc"
        return
    fi
    awk '{printf "%.4f %.4f\n", $1, $2 + $3}' <<<"$t"
}

declare -A wall cpu
for name in "${names[@]}"; do
    rc=0
    eval "${cmd[$name]}" >"$work/warm.out" 2>&1 || rc=$? # warm the page cache
    [ "$rc" = 0 ] || failed "$name" "$rc" "$work/warm.out"
    wall[$name]=""
    cpu[$name]=""
done
for ((i = 0; i < runs; i++)); do
    for name in "${names[@]}"; do
        w="" c=""
        read -r w c < <(one "${cmd[$name]}")
        [ -n "$c" ] || failed "$name" "$w" "$work/one.err"
        wall[$name]+="$w "
        cpu[$name]+="$c "
    done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

java_version=$(sed -n 's/^JAVA_VERSION="\(.*\)"/\1/p' "$java_home/release")
echo "JDK $java_version ($java_home), $runs runs each, medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
hello_cpu=$(median "${cpu[hello]}")
printf '%-28s %8s %8s %10s\n' COMMAND "CPU s" "WALL s" "CPU/HELLO"
label() {
    case $1 in
        hello) echo "hello world" ;;
        version) echo "bin/hvctl --version" ;;
        plugins) echo "bin/hvctl plugins" ;;
        plugins_noaot) echo "  same, HVCTL_NO_AOT=1" ;;
        root) echo "./hvctl --version" ;;
    esac
}
for name in "${names[@]}"; do
    c=$(median "${cpu[$name]}")
    w=$(median "${wall[$name]}")
    printf '%-28s %8.3f %8.3f %9.2fx\n' "$(label "$name")" "$c" "$w" "$(awk -v a="$c" -v b="$hello_cpu" 'BEGIN {print a / b}')"
done
if [ "$root_launcher" = 1 ]; then
    rw=$(median "${wall[root]}")
    vw=$(median "${wall[version]}")
    printf 'root launcher adds %.0f ms wall to bin/hvctl --version\n' "$(awk -v a="$rw" -v b="$vw" 'BEGIN {print (a - b) * 1000}')"
fi
echo "targets (issue 16): --version at most 2.5x hello world, plugins at most 3x, the root launcher at most 50 ms"
