"""Stage-2 heads on cached stage-1 class features (research diagnostic).

Caches the class-aware features ``X_class`` (N, C, D) of the training and
the **validation** split of finished stage-1 runs (never the test split;
:mod:`calibration_on_cached_stats`'s cache), estimates the Gaussian
statistics of the training features as stage 2 does, and scores on
validation, without training anything:

* ``stage1``: the stage-1 head;
* ``lda``: the closed-form LDA head alone (:func:`~ldr_mm.reconstruction.m_step.
  lda_classifier`, the ``'lda'`` M-step with ``blend=1``);
* ``lda_sh<s>``: the same with a fixed shrinkage ``s`` of the statistics;
* ``blend<t>``: the ``'lda'`` M-step with ``blend=t`` and the stage-1 head
  as anchor (:func:`~ldr_mm.reconstruction.m_step.lda_m_step`, exactly what
  ``EMTrainLoop`` runs in round 1, before its E-step).

Prints validation AUC / mAP / tail AUC / tail mAP per head and run, then the
mean over runs. AUC and AP do not depend on the biases.

Example (runs of ``tools/benchmark_suite.py`` or of
``tools/stage1_val_sweep.py``)::

    python benchmarks/heads_on_cached_features.py \\
        --run work_dirs/bench_demo/ldr_r18_demo_stage1/seed{0,1,2}
"""
import torch

from calibration_on_cached_stats import (find_run, load_or_cache, metrics,
                                         print_mean_sd, run_parser, scores_of,
                                         statistics_of)


COLUMNS = ('AUC', 'mAP', 'tail AUC', 'tail mAP')


def head_rows(data, blends, shrinkages):
    """{head name: [AUC, mAP, tail AUC, tail mAP]} on validation."""
    from ldr_mm.reconstruction import sampling_probability
    from ldr_mm.reconstruction.m_step import lda_m_step
    (xtr, ytr), (xva, yva) = data['splits']['train'], data['splits']['val']
    tail, classes = data['tail'], data['classes']
    w1, b1 = (t.double() for t in data['head'])

    def score(weight, bias):
        m = metrics(scores_of(weight, bias, xva), yva, tail)
        return [m[2], m[0], m[3], m[1]]  # AUC, mAP, tail AUC, tail mAP

    def m_step(stats, blend):
        w, b = w1.clone(), b1.clone()
        prob = sampling_probability(stats.positive_counts, mode='reverse')
        lda_m_step(w, b, stats, prob, blend=blend, anchor=(w1, b1))
        return score(w, b)

    stats = statistics_of(xtr, ytr, classes)
    rows = {'stage1': score(w1, b1), 'lda': m_step(stats, 1.0)}
    for s in shrinkages:
        rows[f'lda_sh{s:g}'] = m_step(statistics_of(xtr, ytr, classes, s),
                                       1.0)
    for t in blends:
        rows[f'blend{t:g}'] = m_step(stats, t)
    return rows


def main(argv=None):
    from mmengine.config import Config
    import ldr_mm  # noqa: F401
    p = run_parser(__doc__)
    p.add_argument('--blend', type=float, nargs='*',
                   default=[0.25, 0.5, 0.75])
    p.add_argument('--shrinkage', type=float, nargs='*', default=[])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    per_run = []
    for run in args.run:
        cfg_path, ckpt = find_run(run)
        data = load_or_cache(Config.fromfile(cfg_path), ckpt, args.data_dir,
                             args.cache_dir)
        rows = head_rows(data, args.blend, args.shrinkage)
        per_run.append(rows)
        print(f'\n{ckpt}')
        for name, r in rows.items():
            print(f'  {name:10s} ' + '  '.join(
                f'{c} {v:.4f}' for c, v in zip(COLUMNS, r)), flush=True)
    print_mean_sd(per_run, COLUMNS, width=10)


if __name__ == '__main__':
    main()
