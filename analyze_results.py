"""Figures, CSVs and report.md from the benchmark's result files.

    python analyze_results.py [benchmark_results.json] [benchmark_results_rust.json]
                              [--out benchmark_plots]

All logic lives in ipc_benchmark.analysis; docs/results-schema.md describes the input.
"""

import sys

from ipc_benchmark.analysis import main

if __name__ == "__main__":
    sys.exit(main())
