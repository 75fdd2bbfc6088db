"""The "SKIPPED n tests that need ..." lines of `make test` (tests/conftest.py): each test counted
once, and only when it was run and skipped."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO_ROOT, skip_summary_lines


def test_it_counts_a_test_needing_both_services_once():
    lacking = {
        "a.py::needs_both": ("postgres", "redis"),
        "a.py::needs_postgres": ("postgres",),
        "a.py::needs_postgres_too": ("postgres",),
    }

    lines = skip_summary_lines(lacking, set(lacking))

    assert len(lines) == 2
    assert lines[0].startswith("SKIPPED 2 tests that need PostgreSQL (")
    assert lines[1].startswith("SKIPPED 1 test that needs PostgreSQL (") and " and Redis" in lines[1]


def test_it_does_not_count_tests_that_did_not_run():
    lacking = {"a.py::deselected": ("redis",), "a.py::skipped": ("redis",)}

    assert skip_summary_lines(lacking, {"a.py::skipped", "a.py::passed"}) == [
        skip_summary_lines({"x": ("redis",)}, {"x"})[0]
    ]


def test_deselected_tests_are_not_reported_skipped_in_a_real_run():
    # Given no services at all, and a -k that deselects every test of a file that needs them
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "REDIS_URL", "REQUIRE_SERVICES", "CI"}}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--no-header",
         "tests/support/test_delivery_worker.py", "-k", "no_test_has_this_name"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )

    assert "deselected" in result.stdout, result.stdout[-2000:]
    assert "SKIPPED" not in result.stdout
