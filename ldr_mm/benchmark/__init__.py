"""The benchmark suite: train and test sets of configs, tabulate, compare.

``tools/benchmark_suite.py`` is its command line (:func:`main`). Modules:
:mod:`.presets` (named config sets, table columns: data), :mod:`.configs`
(lookup, stage-2 chaining, the dataset key), :mod:`.overrides` (what the
suite changes in a config), :mod:`.runs` (plan, train, test, reuse),
:mod:`.stats` (mean +- sd, paired bootstrap), :mod:`.compare` (configs
against a reference), :mod:`.report` (results.md / .json / per_class.png).
"""
from .cli import main, parse_args, run_suite
from .compare import compare_to_reference
from .configs import (SuiteError, dataset_key, is_baseline, is_stage2,
                      load_config, repo_path, run_name, stage1_config_of)
from .overrides import (ensure_table_metrics, resolve_run_config,
                        set_backbone, set_epochs, smoke_overrides,
                        tiny_backbone)
from .presets import (BOOTSTRAP_COLUMNS, COLUMNS, DEMO_BASELINE, PRESETS,
                      REPO, TABLE_METRICS)
from .report import markdown_table, tail_gap_lines, write_reports
from .runs import Run, plan_runs, run_all
from .settings import SuiteSettings
from .stats import (bootstrap_indices, mean_sd, paired_bootstrap,
                    percentile_interval, resampled_metrics)

__all__ = [
    'main', 'parse_args', 'run_suite', 'compare_to_reference', 'SuiteError',
    'dataset_key', 'is_baseline', 'is_stage2', 'load_config', 'repo_path',
    'run_name', 'stage1_config_of', 'ensure_table_metrics',
    'resolve_run_config', 'set_backbone', 'set_epochs', 'smoke_overrides',
    'tiny_backbone', 'BOOTSTRAP_COLUMNS', 'COLUMNS', 'DEMO_BASELINE',
    'PRESETS', 'REPO',
    'TABLE_METRICS', 'markdown_table', 'tail_gap_lines', 'write_reports',
    'Run', 'plan_runs', 'run_all', 'SuiteSettings', 'bootstrap_indices',
    'mean_sd', 'paired_bootstrap', 'percentile_interval', 'resampled_metrics'
]
