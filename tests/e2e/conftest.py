"""Browser tests: Playwright's sync API driving Debian's headless Chromium against live_server.

Playwright's sync API runs an event loop in the test thread; Django then refuses ORM calls from
that thread (SynchronousOnlyOperation) although they are plain blocking calls here. Allow them.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.conftest import REQUIRE_SERVICES  # noqa: E402
from tests.review.factories import review_catalogue, review_ticket_make  # noqa: E402

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
PASSWORD = "pw-for-tests-only"
LAPTOP = {"width": 1366, "height": 768}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if REQUIRE_SERVICES:
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
