"""LDR stage 2 on CSRA's class-specific features (research diagnostic).

MMPretrain's ``CSRAClsHead`` scores class c as ``sum_h <u_hc, f_hc>`` with
``u_hc = w_hc / ||w_hc||`` (head h's 1x1 conv, no bias) and the
class-specific feature ``f_hc = mean_p x_p + lam * sum_p a_hcp x_p`` of the
backbone map x (attention ``a = softmax_p(T_h <u_hc, x_p>)``, or the arg-max
one-hot for ``T_h = 99``). So CSRA is a group-wise linear head on
class-aware features, and LDR's stage 2 applies to it: this script caches
the backbone maps of a trained CSRA run (training and **validation** split,
test pipeline; never the test split), computes the class features with the
trained attention kept, estimates the per-class, per-label Gaussians of the
training features as stage 2 does (:class:`~ldr_mm.reconstruction.
GaussianAccumulator`, ``shrinkage='auto'``, ``ridge=1e-3``) and refits the
classifier with the recommended M-step (:func:`~ldr_mm.reconstruction.
lda_m_step`, reverse-sampling prior, ``scale='head'``, the CSRA head as the
anchor of the blend). Nothing is trained. Rows (validation AUC / mAP /
tail AUC / tail mAP):

* ``csra``: CSRA's own head (both feature layouts below are checked to
  reproduce the model's logits);
* ``lda`` / ``blend<t>``: the M-step (``blend=1`` / ``t``) on
  :class:`~ldr_mm.models.CSRANeck`'s ``features='sum'`` (``f_hc``, H D-d);
* ``cat_lda`` / ``cat_blend<t>``: the same on ``features='concat'``
  (``[mean_p x_p ; att_1c ; ...]``, (H + 1) D-d), where CSRA's classifier is
  ``[sum_h u_hc ; lam u_1c ; ...]`` and the LDA solution may weigh the pooled
  and the attended parts apart.

Example (runs of ``tools/benchmark_suite.py``)::

    python benchmarks/csra_stage2_on_cached_features.py \\
        --run work_dirs/demo3/csra_r18_demo/seed{0,1,2} --blend 0.25 0.5 0.75
"""
import hashlib
import os
import os.path as osp

import torch

from calibration_on_cached_stats import (find_run, metrics, print_mean_sd,
                                         run_parser, statistics_of)

COLUMNS = ('AUC', 'mAP', 'tail AUC', 'tail mAP')


@torch.no_grad()
def _cache(cfg, ckpt):
    """The model's backbone maps and labels of the training and validation
    split, the class names, tail indices and the CSRA head's parameters."""
    from mmengine.dataset import pseudo_collate
    from mmpretrain.structures import label_to_onehot

    from calibration_on_cached_stats import _dataset, load_model
    model = load_model(cfg, ckpt)
    splits = {}
    for split in ('train', 'val'):
        ds = _dataset(cfg, split, None)
        C = len(ds.metainfo['classes'])
        maps, labels = [], []
        for i in range(0, len(ds), 64):
            data = model.data_preprocessor(pseudo_collate(
                [ds[j] for j in range(i, min(i + 64, len(ds)))]), False)
            maps.append(model.extract_feat(data['inputs'])[-1])
            labels.append(torch.stack([label_to_onehot(s.gt_label, C)
                                       for s in data['data_samples']]))
        splits[split] = (torch.cat(maps), torch.cat(labels) >= 0.5)
    classes = list(ds.metainfo['classes'])
    mods = model.head.csra_heads
    return dict(splits=splits, classes=classes,
                tail=[classes.index(c) for c in ds.metainfo['tail_classes']],
                weights=[m.head.weight.detach().flatten(1) for m in mods],
                temps=[int(m.T) for m in mods], lam=float(mods[0].lam),
                # the model's own logits, to check the class features
                check=model.head((splits['val'][0][:64], )))


def _cached_maps(cfg, ckpt, cache_dir):
    """:func:`_cache`, kept in ``cache_dir`` (never beside the run)."""
    key = hashlib.sha1(osp.abspath(ckpt).encode()).hexdigest()[:12]
    path = osp.join(cache_dir, f'csra_{osp.basename(ckpt)}.{key}.pth')
    if osp.isfile(path):
        return torch.load(path, weights_only=True)
    data = _cache(cfg, ckpt)
    os.makedirs(cache_dir, exist_ok=True)
    torch.save(data, path)
    return data


@torch.no_grad()
def class_features(maps, data, kind):
    """Class features (N, C, .) of :class:`~ldr_mm.models.CSRANeck` with
    ``features=kind`` and the trained attention, and the group-wise weight
    (C, .) that gives CSRA's logits on them."""
    from ldr_mm.models import CSRANeck
    w = data['weights']
    neck = CSRANeck(w[0].shape[0], w[0].shape[1], num_heads=len(w),
                    lam=data['lam'], features=kind)
    for h, wh, t in zip(neck.csra_heads, w, data['temps']):
        h.head.weight.copy_(wh.view_as(h.head.weight))
        assert h.T == t
    feats = torch.cat([neck((maps[i:i + 512], ))[0]
                       for i in range(0, len(maps), 512)])
    return feats.double(), neck.csra_head_weight().double()


def head_rows(data, blends):
    """{row: [AUC, mAP, tail AUC, tail mAP]} on validation."""
    from ldr_mm.reconstruction import lda_m_step, sampling_probability
    (mtr, ytr), (mva, yva) = data['splits']['train'], data['splits']['val']
    tail = data['tail']

    def score(w, b, x):
        m = metrics((x * w).sum(-1) + b, yva, tail)
        return [m[2], m[0], m[3], m[1]]

    rows = {}
    for kind, prefix in (('sum', ''), ('concat', 'cat_')):
        xtr, anchor = class_features(mtr, data, kind)
        xva, _ = class_features(mva, data, kind)
        b0 = torch.zeros(anchor.shape[0], dtype=torch.float64)
        own, ref = (xva[:64] * anchor).sum(-1), data['check'].double()
        err = ((own - ref).abs().max() / ref.abs().max()).item()
        if err > 1e-5:
            raise RuntimeError(f'{kind} class features do not reproduce the '
                               f'CSRA logits (max relative error {err:.2e})')
        rows.setdefault('csra', score(anchor, b0, xva))
        stats = statistics_of(xtr.float(), ytr, data['classes'])
        prob = sampling_probability(stats.positive_counts, mode='reverse')
        for t in [1.0] + list(blends):
            w, b = anchor.clone(), b0.clone()
            lda_m_step(w, b, stats, prob, blend=t, anchor=(anchor, b0))
            name = 'lda' if t == 1.0 else f'blend{t:g}'
            rows[prefix + name] = score(w, b, xva)
    return rows


def main(argv=None):
    from mmengine.config import Config
    import ldr_mm  # noqa: F401
    p = run_parser(__doc__)
    p.add_argument('--blend', type=float, nargs='*',
                   default=[0.25, 0.5, 0.75])
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    per_run = []
    for run in args.run:
        cfg_path, ckpt = find_run(run)
        data = _cached_maps(Config.fromfile(cfg_path), ckpt, args.cache_dir)
        rows = head_rows(data, args.blend)
        per_run.append(rows)
        print(f'\n{ckpt}')
        for name, r in rows.items():
            print(f'  {name:14s} ' + '  '.join(
                f'{c} {v:.4f}' for c, v in zip(COLUMNS, r)), flush=True)
    print_mean_sd(per_run, COLUMNS, width=14)


if __name__ == '__main__':
    main()
