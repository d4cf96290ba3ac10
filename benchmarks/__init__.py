"""Benchmark: calserver against stock Radicale 3.9.0 (DESIGN.md, "Performance targets").

Run it with ``python benchmarks/run.py --quick`` or ``--sizes 1000,10000,100000``.
"""
