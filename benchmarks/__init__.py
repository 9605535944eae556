"""Side-by-side speed benchmarks for td_plugins models (see ``harness.py``)."""
