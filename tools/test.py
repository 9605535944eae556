"""Evaluate a checkpoint with the codebase's own metric.

Usage: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out X.pkl]
       [--metrics-out M.json] [--cfg-options k=v ...] [--launcher ...]
"""
from td_plugins.utils.launcher import run_test

if __name__ == '__main__':
    run_test()
