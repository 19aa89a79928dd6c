#!/usr/bin/env bash
# Builds the worked example plugin the way a third party builds theirs: its
# pom.xml copied out of the checkout, resolving everything offline through
# hvspi's BOM from a Maven repository that holds hvspi's installed artifacts.
#
#   1. installs the reactor modules the example needs (bom, parent, spi, core,
#      simulators, tck) into a PRIVATE repository (never ~/.m2), fed from
#      ~/.m2 through a file:// mirror: nothing is downloaded;
#   2. copies examples/memvm-plugin (pom.xml and src/) to a temp directory and
#      runs `mvn -o verify` there against that private repository: its kit
#      tests run;
#   3. if a distribution was built (cli/target/hvctl), runs `hvctl compat` on
#      the jar it made.
#
# Slow (a reactor install plus a plugin build: minutes), so CI does not run it;
# run it after changing a pom, the BOM or the plugin guide.
# Usage: scripts/check-outside-plugin-build.sh [WORKDIR]   (default: a new temp dir, removed on success)
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
# shellcheck source=../cli/src/dist/bin/find-java
. "$repo/cli/src/dist/bin/find-java"
# a JDK: Maven compiles with it (on Debian 13 the java on PATH is maven's JRE 21, which cannot)
hvctl_find_java --jdk
export JAVA_HOME="$HVCTL_JAVA_HOME"

work=${1:-$(mktemp -d /tmp/hvspi-outside-XXXXXX)}
m2=${MAVEN_LOCAL_REPO:-$HOME/.m2/repository}
private="$work/repository"
mkdir -p "$private"
cat > "$work/settings.xml" <<XML
<settings>
  <!-- every download comes from the developer's own repository, read-only -->
  <mirrors>
    <mirror>
      <id>local-m2</id>
      <mirrorOf>*</mirrorOf>
      <url>file://$m2</url>
    </mirror>
  </mirrors>
</settings>
XML

# the guide shows this pom: they must not drift apart
guide_pom=$(awk '/^## 2. pom.xml/{f=1} f&&/^```xml/{p=1;next} p&&/^```/{exit} p' "$repo/docs/plugin-guide.md")
diff <(printf '%s\n' "$guide_pom") <(sed -n '/^<project/,$p' "$repo/examples/memvm-plugin/pom.xml") >/dev/null \
    || { echo "check-outside-plugin-build: error: docs/plugin-guide.md section 2 differs from examples/memvm-plugin/pom.xml" >&2; exit 1; }

started=$SECONDS
echo "== installing hvspi into $private"
mvn -B -q -f "$repo/pom.xml" -s "$work/settings.xml" -Dmaven.repo.local="$private" \
    -pl bom,examples/memvm-plugin -am -DskipTests -Dmaven.javadoc.skip=true install
# skipped tests resolve no test runner: fetch surefire's JUnit Platform provider too
mvn -B -q -s "$work/settings.xml" -Dmaven.repo.local="$private" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:get \
    -Dartifact=org.apache.maven.surefire:surefire-junit-platform:3.5.4
installed=$SECONDS

echo "== building the example plugin outside the checkout, offline"
rm -rf "$work/memvm-plugin"
mkdir -p "$work/memvm-plugin"
cp -r "$repo/examples/memvm-plugin/pom.xml" "$repo/examples/memvm-plugin/src" "$work/memvm-plugin/"
# the same settings: the private repository records which repository each
# artifact came from, and Maven offline only serves those from a known one
(cd "$work/memvm-plugin" && mvn -B -q -o -s "$work/settings.xml" -Dmaven.repo.local="$private" verify)
jar="$work/memvm-plugin/target/memvm-plugin-1.0.0.jar"
# the manifest read with the JDK's own jar tool (unzip is not among install-deps.sh's packages);
# a jar that cannot be read is said so, not reported as lacking the Plugin-Id
manifest=$(cd "$work" && rm -rf manifest && mkdir manifest && cd manifest \
        && "$JAVA_HOME/bin/jar" xf "$jar" META-INF/MANIFEST.MF && cat META-INF/MANIFEST.MF) \
    || { echo "check-outside-plugin-build: error: cannot read META-INF/MANIFEST.MF of $jar with $JAVA_HOME/bin/jar" >&2; exit 1; }
tr -d '\r' <<<"$manifest" | grep -q '^Plugin-Id: memvm$' \
    || { echo "check-outside-plugin-build: error: $jar has no Plugin-Id: memvm" >&2; exit 1; }
built=$SECONDS

if [ -x "$repo/cli/target/hvctl/bin/hvctl" ]; then
    echo "== hvctl compat on the built jar"
    mkdir -p "$work/plugins"
    cp "$jar" "$work/plugins/"
    HVSPI_RUNTIME_DIR="$work/run" "$repo/cli/target/hvctl/bin/hvctl" compat \
        --plugins-dir "$work/plugins" --out "$work/compat"
else
    echo "(no distribution in cli/target/hvctl: compat step skipped)"
fi

echo "check-outside-plugin-build: ok (install $((installed - started)) s, offline plugin build $((built - installed)) s)"
[ $# -ge 1 ] || rm -rf "$work"
