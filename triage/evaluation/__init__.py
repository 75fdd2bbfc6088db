"""Evaluation sets and runs: every change to what the AI does is measured before it ships.

- ``models``: ``EvalSet`` (frozen cases), ``EvalCase``, ``EvalRun``, ``EvalResult``;
- ``building``: ``evalset_build_csv``, ``evalset_build_reviews``, ``evalset_build_suite``;
- ``running``: ``eval_run_execute``: a configuration's whole pipeline per case, nothing sent;
- ``metrics``: the run's figures (accuracy, macro F1, ECE, automated error bound, cost, latency).
"""
