"""Retrieval quality (recall@5, MRR) over triage/kb/eval/questions.json on both backends.

SQLite (in-process BM25) always runs, in a throw-away VAR_DIR; PostgreSQL (full-text search
with the GIN index) runs when --database-url names a database (it is migrated and the demo KB
imported into it, so use a scratch database).

    .venv/bin/python bench/retrieval.py [--database-url postgresql://postgres@127.0.0.1:5432/sb_kb]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(env: dict[str, str], *command: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    extra = ["--show-misses"] if args.show_misses else []
    with tempfile.TemporaryDirectory() as var_dir:
        env = {**os.environ, "VAR_DIR": var_dir, "DATABASE_URL": ""}
        run(env, "migrate", "--noinput", "-v0")
        print("== SQLite ==")
        print(run(env, "eval_retrieval", "--import-demo", *extra), end="")
    if args.database_url:
        env = {**os.environ, "DATABASE_URL": args.database_url}
        run(env, "migrate", "--noinput", "-v0")
        run(env, "import_kb", "--demo", "--reindex")
        print("== PostgreSQL ==")
        print(run(env, "eval_retrieval", "--import-demo", *extra), end="")


if __name__ == "__main__":
    main()
