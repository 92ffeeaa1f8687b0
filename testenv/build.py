"""Build the pinned control-plane binaries from the Go module proxy into a versioned cache.

Idempotent: when every binary is already in the cache nothing runs. Each component is built in a
throwaway module so that `go build` resolves exactly the pinned versions:

- `k8s.io/kubernetes` declares its staging modules (`k8s.io/api`, ...) at v0.0.0 and replaces them
  with local paths, which only work inside its own repository; our go.mod requires the release
  and replaces every staging module with its published `v0.Y.Z` twin.
- etcd's root module (the `etcd` command) carries local replaces too, so we build a two-line main
  that calls `etcdmain.Main` from the published server module.
- kwok has no replaces and is built straight from its module.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from testenv import versions

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# The stage policy kwok plays on nodes and pods (ready, complete, delete, heartbeats): kwokctl
# passes these same defaults; the bare kwok binary does nothing without them.
KWOK_STAGES = "kwok-stages.yaml"
_KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
BINARIES = (*KUBE_COMMANDS, "etcd", "kwok", KWOK_STAGES)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitmoor" / "cluster" / versions.cache_key()


def bin_dir() -> Path:
    return cache_root() / "bin"


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if not (bin_dir() / name).is_file()]


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never let go fetch a different toolchain: the machine's Go is the one we build with.
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-buildvcs=false")
    return env


def _go(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        ["go", *args], cwd=cwd, env=_go_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed in {cwd}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def _module_gomod(module: str, version: str, cwd: Path) -> str:
    out = _go(["mod", "download", "-json", f"{module}@{version}"], cwd)
    return Path(json.loads(out)["GoMod"]).read_text()


def _staging_modules(kubernetes_gomod: str) -> list[str]:
    return sorted(
        set(re.findall(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/", kubernetes_gomod, re.M))
    )


def _write_module(
    work: Path, name: str, go_version: str, requires: list[str], replaces: list[str]
) -> None:
    lines = [f"module {name}", "", f"go {go_version}", "", "require ("]
    lines += [f"\t{r}" for r in requires]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("]
        lines += [f"\t{r}" for r in replaces]
        lines.append(")")
    (work / "go.mod").write_text("\n".join(lines) + "\n")


def _version_ldflags(package: str, version: str) -> str:
    major, minor, _ = version.lstrip("v").split(".")
    return " ".join(
        f"-X {package}.{key}={value}"
        for key, value in (
            ("gitVersion", version),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
        )
    )


def build_kubernetes(work: Path, out: Path) -> None:
    kube = versions.KUBERNETES
    gomod = _module_gomod("k8s.io/kubernetes", kube, work)
    go_version = re.search(r"^go (\S+)", gomod, re.M)
    staging = _staging_modules(gomod)
    if not staging:
        raise RuntimeError("found no staging modules in k8s.io/kubernetes go.mod")
    stage_v = versions.staging_version(kube)
    _write_module(
        work,
        "gitmoor.local/kubebuild",
        go_version.group(1) if go_version else "1.26",
        [f"k8s.io/kubernetes {kube}"],
        [f"{m} => {m} {stage_v}" for m in staging],
    )
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport (\n"
        + "".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"\n' for c in KUBE_COMMANDS)
        + ")\n"
    )
    _go(["mod", "tidy", "-e"], work)
    ldflags = "-s -w " + " ".join(
        _version_ldflags(p, kube)
        for p in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
    )
    for command in KUBE_COMMANDS:
        _go(
            [
                "build",
                "-trimpath",
                "-ldflags",
                ldflags,
                "-o",
                str(out / command),
                f"k8s.io/kubernetes/cmd/{command}",
            ],
            work,
        )


def build_etcd(work: Path, out: Path) -> None:
    _write_module(
        work, "gitmoor.local/etcdbuild", "1.26", [f"go.etcd.io/etcd/server/v3 {versions.ETCD}"], []
    )
    (work / "main.go").write_text(
        'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
        "func main() { etcdmain.Main(os.Args) }\n"
    )
    _go(["mod", "tidy"], work)
    _go(["build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "."], work)


def build_kwok(work: Path, out: Path) -> None:
    _write_module(
        work, "gitmoor.local/kwokbuild", "1.26", [f"sigs.k8s.io/kwok {versions.KWOK}"], []
    )
    (work / "tools.go").write_text(
        '//go:build tools\n\npackage tools\n\nimport _ "sigs.k8s.io/kwok/cmd/kwok"\n'
    )
    _go(["mod", "tidy", "-e"], work)
    ldflags = f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={versions.KWOK}"
    _go(
        [
            "build",
            "-trimpath",
            "-ldflags",
            ldflags,
            "-o",
            str(out / "kwok"),
            "sigs.k8s.io/kwok/cmd/kwok",
        ],
        work,
    )
    source = Path(_go(["list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], work).strip())
    docs = [(source / f).read_text().strip() for f in _KWOK_STAGE_FILES]
    (out / KWOK_STAGES).write_text("\n---\n".join(docs) + "\n")


def ensure_built(*, quiet: bool = False) -> Path:
    """Return the bin directory, building whatever is missing first."""
    out = bin_dir()
    todo = missing_binaries()
    if not todo:
        return out
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is needed to build the test control plane")
    out.mkdir(parents=True, exist_ok=True)
    steps = []
    if any(c in todo for c in KUBE_COMMANDS):
        steps.append(("kubernetes " + versions.KUBERNETES, build_kubernetes))
    if "etcd" in todo:
        steps.append(("etcd " + versions.ETCD, build_etcd))
    if "kwok" in todo or KWOK_STAGES in todo:
        steps.append(("kwok " + versions.KWOK, build_kwok))
    for label, step in steps:
        started = time.monotonic()
        if not quiet:
            print(f"building {label} (a cold build takes minutes) ...", file=sys.stderr, flush=True)
        # Build into a staging dir and move in at the end, so an interrupted build never leaves a
        # half-written binary that a later run would take for a finished one.
        with tempfile.TemporaryDirectory(prefix="gitmoor-build-") as tmp:
            work = Path(tmp) / "mod"
            staged = Path(tmp) / "bin"
            work.mkdir()
            staged.mkdir()
            step(work, staged)
            for binary in staged.iterdir():
                shutil.move(str(binary), out / binary.name)
        if not quiet:
            print(
                f"built {label} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--print-dir", action="store_true", help="print the bin directory and exit")
    args = parser.parse_args(argv)
    if args.print_dir:
        print(bin_dir())
        return 0
    print(ensure_built())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
