"""The benchmark suite: train and test sets of configs, tabulate, compare.

A research harness of the checkout, not part of the ``ldr_mm`` package (nor
of its wheel): ``tools/benchmark_suite.py`` is its command line
(:func:`main`) and imports it as its sibling package ``benchmark`` (Python
puts the script's folder, ``tools/``, first on ``sys.path``); the tests see
it through pytest's ``pythonpath``. Modules:
:mod:`.presets` (named config sets, table columns: data), :mod:`.variants`
(parameter ablations: ``CONFIG.py@NAME=VALUE``), :mod:`.configs`
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
from .variants import PARAMETERS, split_spec, variant_options

__all__ = [
    'main', 'parse_args', 'run_suite', 'compare_to_reference', 'SuiteError',
    'dataset_key', 'is_baseline', 'is_stage2', 'load_config', 'repo_path',
    'run_name', 'stage1_config_of', 'ensure_table_metrics',
    'resolve_run_config', 'set_backbone', 'set_epochs', 'smoke_overrides',
    'tiny_backbone', 'BOOTSTRAP_COLUMNS', 'COLUMNS', 'DEMO_BASELINE',
    'PRESETS', 'REPO',
    'TABLE_METRICS', 'markdown_table', 'tail_gap_lines', 'write_reports',
    'Run', 'plan_runs', 'run_all', 'SuiteSettings', 'bootstrap_indices',
    'mean_sd', 'paired_bootstrap', 'percentile_interval', 'resampled_metrics',
    'PARAMETERS', 'split_spec', 'variant_options'
]
