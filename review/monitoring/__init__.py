"""Drift monitoring: scheduled checks of recent traffic against a reference window, their stored
results, and the ``drift`` alerts (e-mail, signed webhook) a breach raises. It writes, so it lives
outside ``review.analytics`` (reads only); the analytics read its results. See docs/drift.md."""
