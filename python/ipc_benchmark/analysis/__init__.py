"""The analysis behind analyze_results.py: result files in, figures, CSVs and report.md out.

``load`` reads and checks result files, ``dataset`` groups their records and notes what
is missing or failed, ``compare`` pairs records (Rust against reference, Python harness
against native), ``recommend`` answers "which backend?" (what each backend's kind can do
comes from ``ipc_benchmark/backends.json``), ``tables`` writes the CSVs and Markdown
tables, ``plotstyle`` and ``plots`` draw the figures, ``report`` writes report.md and
``cli`` runs it all. Only the plotting modules import matplotlib.
"""

from .cli import main

__all__ = ["main"]
