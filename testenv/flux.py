"""Build Flux's source-controller and kustomize-controller, the benchmarks' peer, from their Go
modules at pinned releases into a versioned cache, and keep their CRDs next to the binaries.

Idempotent like `testenv.build`: when both binaries and the CRDs are cached nothing runs. Each
controller is built in a throwaway module that requires the release, because `go build` ignores
the `replace` directives of a dependency: we copy the release's non-local replaces (a pinned
go-digest with BLAKE3, kustomize and yaml pins) and drop the local ones (`./api`), whose
published twins the release requires anyway.

The pins are the newest releases that build here: v1.10 of both needs Go 1.27 (we build with
GOTOOLCHAIN=local, Go 1.26), and source-controller v1.9.4 to v1.9.6 need versions of
github.com/fluxcd/pkg/artifact that the module proxy does not serve. Both are Flux 2.9 releases
and speak the same source.toolkit.fluxcd.io/v1 API.

    python -m testenv.flux [--print-dir]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from testenv import build


@dataclass(frozen=True)
class Controller:
    name: str
    module: str
    version: str


SOURCE_CONTROLLER = Controller("source-controller", "github.com/fluxcd/source-controller", "v1.9.3")
KUSTOMIZE_CONTROLLER = Controller(
    "kustomize-controller", "github.com/fluxcd/kustomize-controller", "v1.9.6"
)
CONTROLLERS = (SOURCE_CONTROLLER, KUSTOMIZE_CONTROLLER)
CRD_DIR = "config/crd/bases"


def cache_key() -> str:
    return "_".join(f"{c.name}-{c.version}" for c in CONTROLLERS)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitmoor" / "flux" / cache_key()


def bin_dir() -> Path:
    return cache_root() / "bin"


def crd_dir() -> Path:
    return cache_root() / "crds"


def binary(controller: Controller) -> Path:
    return bin_dir() / controller.name


def crd_files() -> list[Path]:
    return sorted(crd_dir().glob("*.yaml"))


def missing() -> list[Controller]:
    """Controllers whose binary or CRDs are not cached yet."""
    have_crds = {p.name.split("_", 1)[0] for p in crd_files()}
    groups = {
        SOURCE_CONTROLLER.name: "source.toolkit.fluxcd.io",
        KUSTOMIZE_CONTROLLER.name: "kustomize.toolkit.fluxcd.io",
    }
    return [c for c in CONTROLLERS if not binary(c).is_file() or groups[c.name] not in have_crds]


def _outside_replaces(gomod: str) -> list[str]:
    """The `replace` lines of a go.mod that point at published modules (not local paths)."""
    lines: list[str] = []
    for block in re.findall(r"^replace\s*\((.*?)^\)", gomod, re.M | re.S):
        lines += [line.strip() for line in block.splitlines() if "=>" in line]
    lines += [m.strip() for m in re.findall(r"^replace\s+([^(\n][^\n]*=>[^\n]*)$", gomod, re.M)]
    kept = []
    for line in lines:
        line = line.split("//", 1)[0].strip()
        target = line.split("=>", 1)[1].strip()
        if target.startswith(("./", "../", "/")):
            continue
        kept.append(line)
    return kept


def build_controller(controller: Controller, work: Path, out_bin: Path, out_crds: Path) -> None:
    gomod = build._module_gomod(controller.module, controller.version, work)
    go_version = re.search(r"^go (\S+)", gomod, re.M)
    build._write_module(
        work,
        f"gitmoor.local/{controller.name}-build",
        go_version.group(1) if go_version else "1.26",
        [f"{controller.module} {controller.version}"],
        _outside_replaces(gomod),
    )
    # `go get` of the command's package records the checksums of everything it imports; `go mod
    # tidy` cannot, because a program is not an importable package.
    build._go(["get", f"{controller.module}@{controller.version}"], work)
    build._go(
        [
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            str(out_bin / controller.name),
            controller.module,
        ],
        work,
    )
    source = Path(build._go(["list", "-m", "-f", "{{.Dir}}", controller.module], work).strip())
    for crd in sorted((source / CRD_DIR).glob("*.yaml")):
        shutil.copyfile(crd, out_crds / crd.name)


def ensure_built(*, quiet: bool = False) -> Path:
    """Return the bin directory, building whatever is missing first (minutes when cold)."""
    todo = missing()
    if not todo:
        return bin_dir()
    if shutil.which("go") is None:
        raise RuntimeError("the Go toolchain is needed to build Flux's controllers")
    bin_dir().mkdir(parents=True, exist_ok=True)
    crd_dir().mkdir(parents=True, exist_ok=True)
    for controller in todo:
        label = f"{controller.name} {controller.version}"
        started = time.monotonic()
        if not quiet:
            print(f"building {label} (a cold build takes minutes) ...", file=sys.stderr, flush=True)
        # Staged and moved in at the end: an interrupted build never leaves a half-written
        # binary that a later run would take for a finished one.
        with tempfile.TemporaryDirectory(prefix="gitmoor-flux-") as tmp:
            work, staged_bin, staged_crds = Path(tmp) / "mod", Path(tmp) / "bin", Path(tmp) / "crd"
            for d in (work, staged_bin, staged_crds):
                d.mkdir()
            build_controller(controller, work, staged_bin, staged_crds)
            for crd in staged_crds.iterdir():
                shutil.move(str(crd), crd_dir() / crd.name)
            shutil.move(str(staged_bin / controller.name), binary(controller))
        if not quiet:
            print(
                f"built {label} in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True
            )
    return bin_dir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--print-dir", action="store_true", help="print the bin directory and exit")
    args = parser.parse_args(argv)
    if args.print_dir:
        print(bin_dir())
        return 0
    print(ensure_built())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
