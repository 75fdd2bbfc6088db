"""Signed webhooks per second against gunicorn + PostgreSQL.

    .venv/bin/python bench/intake_webhook.py [--seconds 30] [--concurrency 16] [--port 8731]

What it does:
1. (re)creates the database ``sb_intake_bench`` on the local PostgreSQL and migrates it;
2. starts gunicorn (gthread) on 127.0.0.1:PORT with WEBHOOK_SECRETS=bench=<random secret> and a
   throwaway Celery queue on Redis (triage dispatch really happens, nobody consumes it);
3. runs CONCURRENCY client threads for SECONDS, each POSTing Standard-Webhooks-signed tickets
   (signed with the ``standardwebhooks`` library) over keep-alive connections; every 20th request
   is a replay of one of the thread's earlier deliveries (same webhook-id and body: expect 200);
4. prints requests/s, p50/p99 latency, status counts, and the count check: ticket rows created
   == number of 202 responses, and no duplicate (source, external_id) or webhook-id rows.

Prints one JSON line at the end (copy it into bench/intake.md). Stops gunicorn and deletes the
queue on exit.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import redis
from standardwebhooks.webhooks import Webhook

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"
DB = "sb_intake_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")


def database_reset(env: dict[str, str]) -> None:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)


def wait_until_up(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not start")


def client_thread(port: int, secret: str, stop_at: float, results: list[tuple[int, float]], index: int) -> None:
    signer = Webhook(secret)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent: list[tuple[str, bytes]] = []
    count = 0
    while time.monotonic() < stop_at:
        count += 1
        if count % 20 == 0 and sent:
            webhook_id, body = sent[len(sent) // 2]
        else:
            external_id = f"t{index}-{count}-{uuid.uuid4().hex[:8]}"
            body = json.dumps({
                "external_id": external_id,
                "subject": f"Bench ticket {external_id}",
                "body": "My card has not arrived yet, can you check where it is? " * 4,
                "customer": {"email": f"customer{index}-{count % 50}@example.com", "name": "Bench Customer"},
                "metadata": {"thread": index, "n": count},
            }).encode()
            webhook_id = f"msg_{uuid.uuid4().hex}"
            sent.append((webhook_id, body))
        now = datetime.now(tz=UTC)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signer.sign(msg_id=webhook_id, timestamp=now, data=body.decode()),
        }
        started = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/tickets", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = 0
        results.append((status, time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 2))
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    queue = f"bench-intake-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG}/{DB}",
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": queue,
        "CACHE_KEY_PREFIX": queue,
        "WEBHOOK_SECRETS": f"bench={secret}",
        "WEBHOOK_RATE_LIMIT_PER_MINUTE": "100000000",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    database_reset(env)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "support.wsgi:application", "-b", f"127.0.0.1:{args.port}",
         "-k", "gthread", "-w", str(args.workers), "--threads", str(args.threads), "--keep-alive", "30",
         "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )
    try:
        wait_until_up(args.port)
        results: list[tuple[int, float]] = []
        stop_at = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client_thread, args=(args.port, secret, stop_at, results, n))
                   for n in range(args.concurrency)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        redis.Redis.from_url(REDIS_URL).delete(queue)

    statuses: dict[int, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    latencies_ms = sorted(latency * 1000 for _, latency in results)
    with psycopg.connect(f"{PG}/{DB}") as conn:
        rows = conn.execute("SELECT count(*) FROM support_ticket WHERE source = 'bench'").fetchone()[0]
        duplicate_tickets = conn.execute(
            "SELECT count(*) FROM (SELECT external_id FROM support_ticket GROUP BY source, external_id "
            "HAVING count(*) > 1) d").fetchone()[0]
        deliveries = conn.execute("SELECT count(*) FROM support_webhookdelivery").fetchone()[0]
        messages = conn.execute("SELECT count(*) FROM support_message").fetchone()[0]
    accepted = statuses.get(202, 0)
    summary = {
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "gunicorn": f"gthread {args.workers}x{args.threads}",
        "requests": len(results),
        "requests_per_second": round(len(results) / elapsed, 1),
        "created_per_second": round(accepted / elapsed, 1),
        "p50_ms": round(statistics.median(latencies_ms), 1),
        "p99_ms": round(latencies_ms[int(len(latencies_ms) * 0.99) - 1], 1),
        "statuses": statuses,
        "ticket_rows": rows,
        "rows_equal_202": rows == accepted,
        "messages_equal_rows": messages == rows,
        "webhook_delivery_rows": deliveries,
        "duplicate_tickets": duplicate_tickets,
    }
    print(json.dumps(summary))
    ok = rows == accepted and duplicate_tickets == 0 and deliveries == accepted and set(statuses) <= {200, 202}
    print("COUNT CHECK", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
