"""A manager's first look in a real browser: the dashboard's charts draw under the strict CSP,
their numbers are one click away, and a table exports as a CSV file."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from review.demo.history import DRIFT_LABEL, demo_history_seed

pytestmark = pytest.mark.browser


def test_a_manager_sees_the_trend_charts_and_exports_the_category_table(
    transactional_db: None, logged_in_page: Any, live_server: Any, make_user: Any, artifacts: Path
) -> None:
    # Given two weeks of handled history (the demo's, with its drift episode), rolled up
    make_user("agent1")
    make_user("boss", role="manager")
    assert demo_history_seed(days=14, progress=False) > 0
    page = logged_in_page("boss")
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)

    # When they open the dashboard on the last 30 days
    page.goto(f"{live_server.url}/review/dashboard/?days=30")

    # Then every trend chart is drawn, and nothing was refused by the CSP
    volume = page.locator("#trend-volume svg")
    volume.wait_for()
    assert volume.bounding_box()["height"] > 100
    for chart_id in ("trend-automation", "trend-agreement", "trend-cost", "trend-latency", "trend-csat"):
        assert page.locator(f"#{chart_id} svg polyline").count() >= 1, chart_id
    page.get_by_text("Numbers: Tickets by channel").click()
    assert page.locator("#trend-volume details table tbody tr").count() == 30
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
    assert refused == []

    # And the category table downloads as a CSV file with the rows on screen
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV of per category").click()
    download = download_info.value
    assert download.suggested_filename == "switchboard-categories-30d.csv"
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text())))
    assert rows[0][:3] == ["Category", "Tickets", "Automation share"]
    assert DRIFT_LABEL in {row[0] for row in rows[1:]}
    assert page.locator("#categories-table").get_by_text(DRIFT_LABEL, exact=True).is_visible()
