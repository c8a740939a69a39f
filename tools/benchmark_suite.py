"""Train and test a set of configs on one dataset and tabulate the results.

The suite is the package ``tools/benchmark/`` beside this file, a research
harness of the checkout (``--help`` for the options, docs/baselines.md for
the output).
"""
import sys

from benchmark import SuiteError, main

if __name__ == '__main__':
    try:
        sys.exit(main())
    except SuiteError as e:
        sys.exit(f'benchmark_suite: {e}')
