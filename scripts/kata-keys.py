#!/usr/bin/env python3
"""Generates core/src/main/resources/io/hvspi/core/config/kata-keys.txt: the
keys each Kata runtime reads, per table, taken from Kata's own sources.

  Go runtime:  src/runtime/pkg/katautils/config.go, the `toml:"..."` tags of the
               structs tomlConfig decodes into (hypervisor, agent, runtime, factory).
  runtime-rs:  src/libs/kata-types/src/config/{hypervisor/*.rs,runtime.rs,agent.rs,...},
               the fields of Hypervisor / Runtime / Agent, following #[serde(flatten)]
               into the structs they flatten and honouring rename/alias.
  annotations: the hypervisor annotations each runtime defines (Go:
               virtcontainers/pkg/annotations/annotations.go; runtime-rs:
               libs/kata-types/src/annotations/mod.rs).

Usage: scripts/kata-keys.py KATA_GIT_DIR [COMMIT] > kata-keys.txt
KATA_GIT_DIR is a clone (or bare mirror) of github.com/kata-containers/kata-containers.
"""
import re
import subprocess
import sys


def show(git_dir, commit, path):
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{commit}:{path}"],
                          check=True, capture_output=True, text=True).stdout


def ls(git_dir, commit, path):
    out = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "--name-only", "-r", commit, path],
                         check=True, capture_output=True, text=True).stdout
    return [p for p in out.split() if p.endswith(".rs")]


def go_struct_tags(source, struct):
    m = re.search(r"^type %s struct \{\n(.*?)^\}" % struct, source, re.S | re.M)
    if not m:
        sys.exit(f"Go struct {struct} not found: Kata's config.go changed, update this script")
    keys = set()
    for line in m.group(1).splitlines():
        f = re.match(r"\s*(\w+)\s+\S+(?:\s+`([^`]*)`)?", line)
        if not f or line.strip().startswith("//"):
            continue
        tag = re.search(r'toml:"([^",]*)', f.group(2) or "")
        # BurntSushi/toml: an untagged field is matched by its name, case-insensitively
        key = tag.group(1) if tag else f.group(1).lower()
        if key and key != "-":
            keys.add(key)
    return sorted(keys)


def rust_structs(text):
    """struct name -> list of (field, attrs text, type)."""
    structs = {}
    for m in re.finditer(r"pub struct (\w+)(?:<[^>]*>)? \{\n(.*?)^\}", text, re.S | re.M):
        fields = []
        attrs = ""
        depth = 0  # open brackets of a #[...] attribute that spans lines
        for line in m.group(2).splitlines():
            s = line.strip()
            if s.startswith("///") or s.startswith("//") or not s:
                continue
            if depth > 0 or s.startswith("#["):
                attrs += s
                depth += s.count("[") - s.count("]")
                continue
            else:
                f = re.match(r"(?:pub(?:\([^)]*\))? )?(r#)?(\w+)\s*:\s*(.+?),?$", s)
                if f:
                    fields.append((f.group(2), attrs, f.group(3)))
                attrs = ""
        structs[m.group(1)] = fields
    return structs


def rust_keys(structs, name, seen=()):
    keys = set()
    for field, attrs, typ in structs.get(name, []):
        serde = " ".join(re.findall(r"#\[serde\((.*?)\)\]", attrs, re.S))
        if re.search(r"\bskip\b|\bskip_deserializing\b", serde):
            continue
        if "flatten" in serde:
            inner = re.sub(r"^(Option|Box)<(.*)>$", r"\2", typ).split("::")[-1]
            if inner in structs and inner not in seen:
                keys |= rust_keys(structs, inner, seen + (inner,))
            continue
        rename = re.search(r'rename\s*=\s*"([^"]+)"', serde)
        keys.add(rename.group(1) if rename else field)
        keys |= set(re.findall(r'alias\s*=\s*"([^"]+)"', serde))
    return keys


def template_keys(git_dir, commit, directory):
    """The keys set (not commented out) in a [hypervisor.NAME] table of the *.toml.in templates there."""
    out = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "--name-only", commit, directory + "/"],
                         check=True, capture_output=True, text=True).stdout.split()
    keys = set()
    for path in (p for p in out if p.endswith(".toml.in")):
        table = ""
        for line in show(git_dir, commit, path).splitlines():
            header = re.match(r"^\[(.+)\]\s*$", line)
            if header:
                table = header.group(1)
            key = re.match(r"^([a-z0-9_]+)\s*=", line)
            if key and table.startswith("hypervisor.") and table.count(".") == 1:
                keys.add(key.group(1))
    return keys


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    git_dir = sys.argv[1]
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", sys.argv[2] if len(sys.argv) > 2 else "HEAD"],
                            check=True, capture_output=True, text=True).stdout.strip()
    go = show(git_dir, commit, "src/runtime/pkg/katautils/config.go")
    rs_text = "\n".join(show(git_dir, commit, p) for p in ls(git_dir, commit, "src/libs/kata-types/src/config"))
    structs = rust_structs(rs_text)
    go_templates = template_keys(git_dir, commit, "src/runtime/config")
    rs_templates = template_keys(git_dir, commit, "src/runtime-rs/config")
    go_annot = show(git_dir, commit, "src/runtime/virtcontainers/pkg/annotations/annotations.go")
    rs_annot = show(git_dir, commit, "src/libs/kata-types/src/annotations/mod.rs")
    tables = {
        ("go", "hypervisor"): go_struct_tags(go, "hypervisor"),
        ("go", "agent"): go_struct_tags(go, "agent"),
        ("go", "runtime"): go_struct_tags(go, "runtime"),
        ("go", "factory"): go_struct_tags(go, "factory"),
        ("go", "top"): go_struct_tags(go, "tomlConfig"),
        ("runtime-rs", "hypervisor"): sorted(rust_keys(structs, "Hypervisor")),
        ("runtime-rs", "agent"): sorted(rust_keys(structs, "Agent")),
        ("runtime-rs", "runtime"): sorted(rust_keys(structs, "Runtime")),
        ("runtime-rs", "top"): sorted(rust_keys(structs, "TomlConfig")),
        # keys Kata's own templates set in a [hypervisor.NAME] table that the runtime does not read
        ("go", "template-only"): sorted(go_templates - set(go_struct_tags(go, "hypervisor"))),
        ("runtime-rs", "template-only"): sorted(rs_templates - rust_keys(structs, "Hypervisor")),
        # hypervisor annotations, the name after io.katacontainers.config.hypervisor.
        ("go", "annotations"): sorted(set(re.findall(r'kataAnnotHypervisorPrefix \+ "([\w.]+)"', go_annot))
                                      | set(re.findall(r'kataConfAnnotationsPrefix \+ "hypervisor\.([\w.]+)"',
                                                       go_annot))),
        ("runtime-rs", "annotations"): sorted(set(re.findall(r'"io\.katacontainers\.config\.hypervisor\.([\w.]+)"',
                                                             rs_annot))),
    }
    print("# Keys each Kata runtime reads, per table. GENERATED by scripts/kata-keys.py; do not edit.")
    print(f"# kata-containers commit {commit}")
    print("# go:         src/runtime/pkg/katautils/config.go (toml tags of hypervisor, agent, runtime, factory, tomlConfig)")
    print("# runtime-rs: src/libs/kata-types/src/config/ (Hypervisor, Agent, Runtime, TomlConfig, flatten followed)")
    print("# [* template-only]: keys Kata's own templates (src/runtime/config, src/runtime-rs/config *.toml.in)")
    print("#   set in [hypervisor.NAME] that the runtime's struct does not read: accepted, with a warning")
    print("# [* annotations]: go src/runtime/virtcontainers/pkg/annotations/annotations.go,")
    print("#   runtime-rs src/libs/kata-types/src/annotations/mod.rs (names after io.katacontainers.config.hypervisor.)")
    for (runtime, table), keys in tables.items():
        if not keys and table != "template-only":
            sys.exit(f"no keys for {runtime} {table}: Kata's sources changed, update this script")
        print(f"\n[{runtime} {table}]")
        line = ""
        for k in keys:
            if len(line) + len(k) + 1 > 100:
                print(line.strip())
                line = ""
            line += " " + k
        print(line.strip())


if __name__ == "__main__":
    main()
