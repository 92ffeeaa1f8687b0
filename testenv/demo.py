"""`make demo`: the whole main job of gitmoor on this machine.

A local control plane, the example repository served over HTTPS by the test Git server, the
agent running out-of-cluster with `--config`, a commit pushed, and the status table showing it
applied and healthy. The control plane stays up afterwards for exploring.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from testenv.gitserver import GitServers, Worktree

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "demo"
PY = sys.executable
GITMOOR = [PY, "-m", "gitmoor"]
KUBECTL = str(Path(PY).parent / "kubectl")
NS = "gitmoor-demo"


def step(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def run(args: list[str], env: dict[str, str], *, check: bool = True) -> int:
    shown = ["gitmoor", *args[3:]] if args[:3] == GITMOOR else ["kubectl", *args[1:]]
    print("$ " + shlex.join(shown), flush=True)  # quoted: each line works when pasted
    return subprocess.run(args, env=env, check=check).returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=ROOT / ".demo")
    parser.add_argument(
        "--keep", action="store_true", help="Keep the agent and Git server running."
    )
    args = parser.parse_args()
    work: Path = args.dir.resolve()

    step("starting the local control plane")
    cluster_dir = work / "cluster"
    subprocess.run(
        [PY, "-m", "testenv.cluster", "stop", "--dir", str(cluster_dir)],
        check=False,
        capture_output=True,
    )
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    kubeconfig = subprocess.run(
        [PY, "-m", "testenv.cluster", "start", "--dir", str(cluster_dir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The terminal's own width (COLUMNS only when the user set it): the tables fit it.
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    print(f"kubeconfig: {kubeconfig}")

    step("the example repository over HTTPS (git http-backend, nginx, TLS)")
    servers = GitServers(work / "git").start()
    agent: subprocess.Popen[bytes] | None = None
    try:
        repo = servers.create_repo("shop-config")
        tree = Worktree.init(work / "shop-config", remote=repo.file_url)
        files = {
            str(p.relative_to(EXAMPLE)): p.read_text()
            for p in sorted(EXAMPLE.rglob("*"))
            if p.is_file()
        }
        first = tree.commit("shop: production overlay", files)
        tree.push()
        print(f"{repo.https_url}  main = {first[:12]}")

        step("the agent's configuration: a GitSource (HTTPS) and a Sync")
        subprocess.run(
            [KUBECTL, "create", "namespace", NS], env=env, check=True, capture_output=True
        )
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "shop-config-auth", "namespace": NS},
            "data": {
                "username": base64.b64encode(servers.username.encode()).decode(),
                "password": base64.b64encode(servers.password.encode()).decode(),
                "caFile": base64.b64encode(servers.ca_path.read_bytes()).decode(),
            },
        }
        subprocess.run(
            [KUBECTL, "apply", "-f", "-"],
            input=yaml.safe_dump(secret).encode(),
            env=env,
            check=True,
            capture_output=True,
        )
        config = work / "gitmoor.yaml"
        config.write_text(
            yaml.safe_dump_all(
                [
                    {
                        "apiVersion": "gitmoor.io/v1alpha1",
                        "kind": "GitSource",
                        "metadata": {"name": "shop-config", "namespace": NS},
                        "spec": {
                            "url": repo.https_url,
                            "ref": {"branch": "main"},
                            "interval": "30s",
                            "secretRef": {"name": "shop-config-auth"},
                        },
                    },
                    {
                        "apiVersion": "gitmoor.io/v1alpha1",
                        "kind": "Sync",
                        "metadata": {"name": "shop", "namespace": NS},
                        "spec": {
                            "sourceRef": {"name": "shop-config"},
                            "path": "apps/shop/overlays/production",
                            "interval": "5m",
                            "prune": True,
                            "wait": True,
                            "timeout": "2m",
                        },
                    },
                ],
                sort_keys=False,
            )
        )
        print(config.read_text())

        step("running the agent: gitmoor run --config gitmoor.yaml")
        ledger = f"sqlite:///{work / 'ledger.db'}"
        log = (work / "agent.log").open("wb")
        agent = subprocess.Popen(
            [
                *GITMOOR,
                "run",
                "--config",
                str(config),
                "--lease-namespace",
                NS,
                "--http-port",
                "0",
                "--cache-dir",
                str(work / "cache"),
                "--log-format",
                "json",
                "--ledger",
                ledger,
                "--cluster-name",
                "demo",
            ],
            env=env,
            stdout=log,
            stderr=log,
        )
        print(f"agent pid {agent.pid}\n  logs: {work / 'agent.log'}\n  ledger: {ledger}")

        step("waiting for the first revision to be applied and healthy")
        _wait_for_sync(env)
        run([*GITMOOR, "sync", "shop", "-n", NS], env)
        run([*GITMOOR, "status", "-n", NS], env)
        run([KUBECTL, "-n", "shop", "get", "deployment,service,configmap,pods"], env)

        step("a commit: 4 replicas and a dark theme")
        tree.write(
            {
                "apps/shop/overlays/production/replicas.yaml": files[
                    "apps/shop/overlays/production/replicas.yaml"
                ].replace("replicas: 3", "replicas: 4")
            }
        )
        tree.write(
            {
                "apps/shop/base/configmap.yaml": files["apps/shop/base/configmap.yaml"].replace(
                    "THEME: light", "THEME: dark"
                )
            }
        )
        second = tree.commit("shop: scale to 4, dark theme")
        tree.push()
        print(f"pushed main = {second[:12]}")
        run([*GITMOOR, "sync", "shop", "-n", NS], env)
        run([*GITMOOR, "status", "-n", NS], env)
        run(
            [
                KUBECTL,
                "-n",
                "shop",
                "get",
                "deployment/web",
            ],
            env,
        )
        run(
            [
                KUBECTL,
                "-n",
                "shop",
                "get",
                "configmap/web-settings",
                "-o",
                'jsonpath=THEME={.data.THEME}{"\\n"}',
            ],
            env,
        )
        run([KUBECTL, "get", "syncs,gitsources", "-n", NS], env)

        step("the deployment ledger: every attempt, and where a revision runs")
        run([*GITMOOR, "history", "shop", "-n", NS, "--ledger", ledger], env)
        run([*GITMOOR, "where", second[:12], "--ledger", ledger], env)

        if args.keep:
            step("the agent and the Git server keep running: Ctrl-C to stop them")
            with contextlib.suppress(KeyboardInterrupt):
                agent.wait()
    finally:
        if agent is not None and agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=30)
        servers.stop()
    print(f"""
The control plane keeps running with everything gitmoor applied:
  export KUBECONFIG={kubeconfig}
  {KUBECTL} get syncs,gitsources -A
  {KUBECTL} -n shop get all
Stop it with:  make demo-down""")
    return 0


def _wait_for_sync(env: dict[str, str], within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done = subprocess.run(
            [
                KUBECTL,
                "-n",
                NS,
                "get",
                "sync",
                "shop",
                "-o",
                "jsonpath={.status.lastAppliedRevision}",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.strip():
            return
        time.sleep(1)
    raise SystemExit("the agent did not apply the repository in time: see .demo/agent.log")


if __name__ == "__main__":
    sys.exit(main())
