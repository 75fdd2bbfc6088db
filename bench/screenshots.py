"""Screenshots of the review queue and a ticket page at 1366x768 for docs/review.md (issue 14).

Uses the same headless Chromium (Playwright driving Debian's /usr/bin/chromium) as tests/e2e, on
a seeded demo database: log in as a demo agent, capture one screen of /review/ and the first
ticket in it, and fail when fewer than --min-rows queue rows fit on that screen.

    make seed                                   # or: manage.py migrate && manage.py seed_demo
    .venv/bin/python bench/screenshots.py       # starts runserver on a free port itself
    .venv/bin/python bench/screenshots.py --base-url http://127.0.0.1:8000   # or use a running one

Writes docs/screenshots/queue.png and docs/screenshots/ticket.png. Opening a ticket claims
nothing (only Next ticket and Claim do), so the demo queue is left as it was.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1366, "height": 768}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310 - our own loopback server
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not answer within {seconds:.0f} s")


def capture(*, base_url: str, username: str, password: str, min_rows: int) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(f"{base_url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base_url}/review/")
        rows = int(
            page.evaluate(
                """() => Array.from(document.querySelectorAll('#queue-rows tr')).filter(
                     (row) => row.getBoundingClientRect().bottom <= window.innerHeight).length"""
            )
        )
        page.screenshot(path=str(OUT / "queue.png"))
        first = page.locator("#queue-rows a.ticket-link").first
        if first.count():
            first.click()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(OUT / "ticket.png"))
        browser.close()
    print(f"queue rows on one {VIEWPORT['width']}x{VIEWPORT['height']} screen: {rows}")
    print(f"wrote {OUT / 'queue.png'} and {OUT / 'ticket.png'}")
    if rows < min_rows:
        print(f"FAIL: fewer than {min_rows} rows per screen (is the demo database seeded?)")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running Switchboard; default: start runserver here")
    parser.add_argument("--username", default="agent1")
    parser.add_argument("--password", default="switchboard-demo")
    parser.add_argument("--min-rows", type=int, default=15)
    options = parser.parse_args()
    if options.base_url:
        return capture(
            base_url=options.base_url.rstrip("/"),
            username=options.username,
            password=options.password,
            min_rows=options.min_rows,
        )
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed argv, our own manage.py
        [sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_up(base_url)
        return capture(
            base_url=base_url,
            username=options.username,
            password=options.password,
            min_rows=options.min_rows,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    raise SystemExit(main())
