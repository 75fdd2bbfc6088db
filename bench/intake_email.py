"""ingest_email messages per second on a generated 1,000-message mbox, against PostgreSQL.

    .venv/bin/python bench/intake_email.py [--messages 1000]

Generates an mbox with a realistic mix (plain text, multipart/alternative with quoted history,
HTML-only, windows-1252 and Shift_JIS bodies, a PDF attachment every 25th message, a reply to an
earlier message every 10th, an auto-reply every 50th), resets the database ``sb_intake_bench``,
runs ``manage.py ingest_email`` on it once and reports messages/s from the wall time of the
command (process start and Django setup included), plus the outcome summary it printed.
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import subprocess
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432"
DB = "sb_intake_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1")
PDF = b"%PDF-1.4\n" + b"0" * 40_000 + b"\n%%EOF\n"


def message_build(index: int) -> EmailMessage:
    message = EmailMessage()
    sender = f"customer{index % 250}@example.com"
    message["From"] = f"Customer {index % 250} <{sender}>"
    message["To"] = "support@switchboard.localhost"
    message["Message-ID"] = f"<bench-{index}@example.com>"
    message["Date"] = "Tue, 24 Nov 2026 10:00:00 +0000"
    kind = index % 5
    if index % 10 == 9:
        message["Subject"] = f"Re: Question {index - 1}"
        message["In-Reply-To"] = f"<bench-{index - 9}@example.com>"
        message["References"] = f"<bench-{index - 9}@example.com>"
        message.replace_header("From", f"Customer {(index - 9) % 250} <customer{(index - 9) % 250}@example.com>")
    else:
        message["Subject"] = f"Question {index} about my card"
    if index % 50 == 49:
        message["Auto-Submitted"] = "auto-replied"
    text = (f"Hello,\n\nMessage {index}: my card payment was declined twice today at the same shop.\n"
            "Could you check what is wrong?\n\nThanks\n-- \nA customer\n\n"
            "On Mon, 23 Nov 2026, Support <support@switchboard.localhost> wrote:\n> Earlier answer\n")
    if kind == 1:
        message.set_content(text)
        message.add_alternative(f"<html><body><p>{text.replace(chr(10), '<br>')}</p></body></html>", subtype="html")
    elif kind == 2:
        message.set_content(f"<html><body><p>Message {index}</p><script>alert(1)</script>"
                            f"<img src=x onerror=alert(1)><p>My transfer is missing.</p></body></html>",
                            subtype="html")
    elif kind == 3:
        message.set_content(f"Message {index}: the “foreign fee” of 2€ is wrong.\n", charset="windows-1252",
                            cte="8bit")
    elif kind == 4:
        message.set_content(f"メッセージ {index}: カードが届きません。確認してください。\n", charset="shift_jis")
    else:
        message.set_content(text)
    if index % 25 == 0:
        message.add_attachment(PDF, maintype="application", subtype="pdf", filename=f"statement-{index}.pdf")
    return message


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="intake-bench-"))
    mbox_path = workdir / "bench.mbox"
    box = mailbox.mbox(str(mbox_path))
    for index in range(args.messages):
        box.add(message_build(index))
    box.flush()
    box.close()

    queue = f"bench-email-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DATABASE_URL": f"{PG}/{DB}", "REDIS_URL": REDIS_URL, "CELERY_QUEUE": queue,
           "CACHE_KEY_PREFIX": queue, "MEDIA_ROOT": str(workdir / "media"), "VAR_DIR": str(workdir / "var"),
           "LOG_LEVEL": "WARNING"}
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)

    started = time.monotonic()
    completed = subprocess.run([sys.executable, "manage.py", "ingest_email", str(mbox_path)], cwd=ROOT, env=env,
                               capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    redis.Redis.from_url(REDIS_URL).delete(queue)
    lines = completed.stdout.splitlines()
    with psycopg.connect(f"{PG}/{DB}") as conn:
        tickets = conn.execute("SELECT count(*) FROM support_ticket").fetchone()[0]
        inbound = conn.execute("SELECT count(*) FROM support_inboundemail").fetchone()[0]
    summary = {
        "messages": args.messages,
        "mbox_bytes": mbox_path.stat().st_size,
        "seconds": round(elapsed, 2),
        "messages_per_second": round(args.messages / elapsed, 1),
        "exit_status": completed.returncode,
        "summary_line": lines[-1] if lines else completed.stderr[-500:],
        "per_message_lines": len(lines) - 1,
        "tickets": tickets,
        "inbound_rows": inbound,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
