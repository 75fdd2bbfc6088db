"""Do slow clients delay /healthz? gunicorn alone, then nginx (deploy/nginx/switchboard.conf) in front.

1. migrates a fresh embedded SQLite database in a temporary VAR_DIR (no PostgreSQL, no Redis);
2. starts gunicorn as production does, but with 2 sync workers (``support.wsgi``), on a loopback
   port;
3. starts nginx with the committed config, only its ``upstream`` and ``listen`` lines rewritten to
   loopback ports (nginx must be installed: ``apt-get install nginx-light`` on Debian);
4. for each target (gunicorn directly, then nginx) and each count in ``--clients``: opens that many
   slow clients, each POSTing the login form (with a CSRF cookie, so Django reads the body) one
   byte every ``--byte-interval`` seconds (and
   reconnecting when the server drops it, as an attacker would), waits ``--warmup`` seconds, then
   polls ``GET /healthz`` through the target for ``--seconds`` and prints p50 and max latency. A
   poll still unanswered when the window closes counts with the time it had waited (a floor);
5. stops every process it started, whatever happens.

Everything listens on 127.0.0.1; every case is bounded (warmup + seconds + 5 s, then at most
35 s for gunicorn to recover).

    .venv/bin/python bench/slow_clients.py [--clients 0 2 5 10] [--seconds 20] [--byte-interval 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx" / "switchboard.conf"
HOST = "127.0.0.1"
# A body bigger than anything a slow client sends in one case: the request never completes.
DECLARED_BODY_BYTES = 10_000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def healthz_seconds(port: int, timeout: float) -> float:
    """One GET /healthz; its latency in seconds. Raises OSError on a timeout or a refusal."""
    started = time.monotonic()
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise OSError(f"/healthz answered {response.status}")
    finally:
        conn.close()
    return time.monotonic() - started


def wait_until_up(port: int, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            healthz_seconds(port, timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{what} on port {port} did not answer /healthz within {timeout:.0f} s")


def slow_client(port: int, byte_interval: float, stop: threading.Event, reconnects: list[int]) -> None:
    # With a well-formed CSRF cookie Django's CSRF check reads the form body to find the token,
    # so the worker waits for every byte (without it, the request is refused before the body).
    head = (
        f"POST /accounts/login/ HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Cookie: csrftoken={'a' * 32}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {DECLARED_BODY_BYTES}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            with socket.create_connection((HOST, port), timeout=5) as sock:
                sock.sendall(head)
                while not stop.wait(byte_interval):
                    sock.sendall(b"a")
        except OSError:
            reconnects.append(1)
            stop.wait(0.2)


@dataclass
class Case:
    target: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    unanswered: int = 0  # polls that timed out or were refused
    reconnects: int = 0

    def row(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        return {
            "target": self.target,
            "slow_clients": self.clients,
            "polls": len(ordered),
            "unanswered": self.unanswered,
            "p50_ms": round(statistics.median(ordered) * 1000, 1) if ordered else None,
            "max_ms": round(ordered[-1] * 1000, 1) if ordered else None,
            "reconnects": self.reconnects,
        }


def run_case(target: str, port: int, clients: int, args: argparse.Namespace) -> Case:
    case = Case(target=target, clients=clients)
    stop = threading.Event()
    reconnects: list[int] = []
    threads = [
        threading.Thread(target=slow_client, args=(port, args.byte_interval, stop, reconnects), daemon=True)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    time.sleep(args.warmup)
    window_end = time.monotonic() + args.seconds
    while time.monotonic() < window_end:
        started = time.monotonic()
        try:
            case.latencies.append(healthz_seconds(port, timeout=window_end - started + 5))
        except OSError:
            # Unanswered: it waited at least this long, so count it with that (a floor).
            case.unanswered += 1
            case.latencies.append(time.monotonic() - started)
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=args.byte_interval + 6)
    case.reconnects = len(reconnects)
    return case


def nginx_config(tmp: Path, *, listen: int, upstream: int) -> Path:
    """The committed server config with loopback ports, inside a minimal main config."""
    server = NGINX_CONF.read_text()
    for marker, line in (("# bench: upstream", f"server {HOST}:{upstream};"),
                         ("# bench: listen", f"listen {HOST}:{listen};")):
        [original] = [row for row in server.splitlines() if row.rstrip().endswith(marker)]
        server = server.replace(original, original[: len(original) - len(original.lstrip())] + line)
    (tmp / "switchboard.conf").write_text(server)
    temp_paths = "\n".join(
        f"    {name}_temp_path {tmp / ('nginx-' + name)};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = tmp / "nginx.conf"
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'nginx-error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        f"http {{\n    access_log off;\n{temp_paths}\n    include {tmp / 'switchboard.conf'};\n}}\n"
    )
    return main


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[0, 2, 5, 10])
    parser.add_argument("--seconds", type=float, default=20.0, help="polling window per case")
    parser.add_argument("--warmup", type=float, default=2.0, help="slow clients alone before polling")
    parser.add_argument("--byte-interval", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        raise SystemExit("nginx not found: apt-get install nginx-light (Debian) or nginx")
    tmp = Path(tempfile.mkdtemp(prefix="sb-slow-clients-"))
    tmp.chmod(0o755)  # nginx workers run as nobody when started by root
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"VAR_DIR": str(tmp / "var"), "DEBUG": "false", "LOG_LEVEL": "ERROR",
                "DJANGO_SETTINGS_MODULE": "support.settings"})
    gunicorn_port, nginx_port = free_port(), free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        # Its log (the CSRF refusals of the cut-off slow bodies, worker timeouts) goes to a file,
        # shown only if gunicorn fails to come up.
        gunicorn_log = (tmp / "gunicorn.log").open("wb")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "support.wsgi:application", "-b", f"{HOST}:{gunicorn_port}",
             "-k", "sync", "-w", str(args.workers), "--log-level", "error"],
            cwd=ROOT, env=env, start_new_session=True, stdout=gunicorn_log, stderr=subprocess.STDOUT,
        ))
        config = nginx_config(tmp, listen=nginx_port, upstream=gunicorn_port)
        subprocess.run([nginx, "-t", "-q", "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(config)],
                       check=True)
        processes.append(subprocess.Popen(
            [nginx, "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(config)],
            start_new_session=True,
        ))
        try:
            wait_until_up(gunicorn_port, "gunicorn", timeout=60)
        except SystemExit:
            print((tmp / "gunicorn.log").read_text()[-3000:], file=sys.stderr)
            raise
        wait_until_up(nginx_port, "nginx", timeout=15)
        nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        print(f"gunicorn sync x{args.workers} on :{gunicorn_port}, {nginx_version} on :{nginx_port}; "
              f"{args.seconds:.0f} s per case, one byte every {args.byte_interval:.0f} s per slow client")
        print(f"{'target':<9} {'slow':>4} {'polls':>5} {'unanswered':>10} {'p50 ms':>8} {'max ms':>8} {'reconn':>6}")
        rows = []
        for target, port in (("gunicorn", gunicorn_port), ("nginx", nginx_port)):
            for clients in args.clients:
                row = run_case(target, port, clients, args).row()
                rows.append(row)
                print(f"{target:<9} {clients:>4} {row['polls']:>5} {row['unanswered']:>10} "
                      f"{row['p50_ms']!s:>8} {row['max_ms']!s:>8} {row['reconnects']:>6}", flush=True)
                # Killed and restarted workers (gunicorn's 30 s timeout) must be back before the next case.
                wait_until_up(gunicorn_port, "gunicorn", timeout=35)
        print(json.dumps({"bench": "slow_clients", "workers": args.workers, "seconds": args.seconds,
                          "byte_interval": args.byte_interval, "nginx": nginx_version, "rows": rows}))
    finally:
        for process in reversed(processes):
            stop_process(process)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
