"""Browser tests: Playwright's sync API driving Debian's headless Chromium against live_server.

Playwright's sync API runs an event loop in the test thread; Django then refuses ORM calls from
that thread (SynchronousOnlyOperation) although they are plain blocking calls here, so the
browser tests set DJANGO_ALLOW_ASYNC_UNSAFE. Only while they run: set at import time it leaked
into every later test and into subprocesses (``check --deploy`` rejects it, async.E001).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRED_SERVICES
from tests.review.factories import review_catalogue, review_ticket_make

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
PASSWORD = "pw-for-tests-only"
LAPTOP = {"width": 1366, "height": 768}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module", autouse=True)
def _allow_orm_under_playwright() -> Iterator[None]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def browser(_allow_orm_under_playwright: None) -> Iterator[Any]:
    if not CHROMIUM.exists():
        if REQUIRED_SERVICES:
            pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()



@pytest.fixture
def e2e_catalogue(transactional_db: None) -> dict[str, Any]:
    return review_catalogue()


@pytest.fixture
def make_ticket(e2e_catalogue: dict[str, Any]) -> Callable[..., Any]:
    return review_ticket_make


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def logged_in_page(browser: Any, live_server: Any) -> Iterator[Callable[[str], Any]]:
    """``logged_in_page("agent1")``: a page in a fresh context, logged in, at /review/."""
    contexts: list[Any] = []

    def open_as(username: str) -> Any:
        context = browser.new_context(viewport=LAPTOP)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/review/")
        return page

    yield open_as
    for context in contexts:
        context.close()
