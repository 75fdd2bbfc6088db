"""A newcomer's first `make demo`: from a bare clone (nothing beside it, no venv, no pip cache
of ours, no encoder files) until the app answers over HTTP.

It clones this repository's committed HEAD into a fresh temporary directory (so uncommitted files
and the developer's var/ and .venv/ are not there), runs `make demo PORT=<free port>` in it with
a clean environment (no DATABASE_URL, no REDIS_URL, no BANKING77_DIR: the embedded defaults),
and polls `/healthz` until it answers 200. It records how long each step took from the output's
step lines, then stops the server and removes the clone.

pip's own download cache (~/.cache/pip) is left as it is: the figure is "installing from the
package index", not "downloading the internet"; BENCH_NO_PIP_CACHE=1 sets PIP_NO_CACHE_DIR for a
truly cold install.

Run from the repository root:
  python3 bench/first_demo.py
Results go in bench/demo.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 40 * 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def main() -> int:
    load_before = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="sb-first-demo-"))
    clone = workdir / "switchboard"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "BANKING77_DIR", "ENCODER_DIR", "VAR_DIR", "VIRTUAL_ENV"}}
    if os.environ.get("BENCH_NO_PIP_CACHE") == "1":
        env["PIP_NO_CACHE_DIR"] = "1"
    log_path = workdir / "make-demo.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            ["make", "demo", f"PORT={port}"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        served_at = None
        while time.monotonic() - started < TIMEOUT_S and process.poll() is None:
            if healthy(port):
                served_at = time.monotonic() - started
                break
            time.sleep(1)
    load_after = os.getloadavg()
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    output = log_path.read_text(errors="replace")
    summary_lines = [line for line in output.splitlines() if line.startswith(("==", "trained", "seeded", "Switchboard is running"))]
    print("\n".join(summary_lines))
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    if served_at is None:
        print(output[-4000:])
        print("demo did not serve", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 1
    print(f"bare clone to serving: {served_at:.0f} s")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
