"""Stage-1 heads on cached backbone features (research diagnostic).

Freezes the backbone of a trained checkpoint, caches its last feature maps
of the training and validation images (test pipeline, no augmentation) and
trains, on those maps only, (a) global average pooling + a linear layer
(the plain baseline's head) and (b) ``LDRNeck`` + ``LDRHead`` with the
neck options given per variant, all with BCE, Adam and the demo stage-1
schedule (linear warm-up, cosine). Prints train and validation mAP / tail
mAP per variant and seed: on the same frozen features, a neck that cannot
match the linear head has an optimisation or capacity problem of its own;
train vs val separates underfitting from overfitting. Seconds per variant.
The model is built as the runner builds it (with the config's data
preprocessor: normalised images); the maps are cached in ``--cache-dir``
(never beside the checkpoint).

Example::

    python benchmarks/neck_on_cached_features.py CONFIG CKPT --seeds 0 1 2 \
        --variant paper --variant gap gap_residual=True \
        --variant std002 label_init_std=0.02
"""
import argparse
import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from calibration_on_cached_stats import _dataset, cached, load_model


@torch.no_grad()
def cache_features(cfg, ckpt, split):
    """Backbone maps (N, D_in, H, W) of the normalised images of ``split``
    (test pipeline, eval mode), labels (N, C) and tail indices."""
    from mmengine.dataset import pseudo_collate
    from mmpretrain.structures import label_to_onehot
    model = load_model(cfg, ckpt)
    ds = _dataset(cfg, split, None)
    feats, labels = [], []
    for i in range(0, len(ds), 64):
        batch = pseudo_collate([ds[j] for j in range(i, min(i + 64,
                                                            len(ds)))])
        data = model.data_preprocessor(batch, False)
        feats.append(model.backbone(data['inputs'])[-1])
        labels.append(torch.stack([
            label_to_onehot(s.gt_label, len(ds.metainfo['classes'])).float()
            for s in data['data_samples']]))
    classes = list(ds.metainfo['classes'])
    tail = [classes.index(c) for c in ds.metainfo['tail_classes']]
    return torch.cat(feats), torch.cat(labels), tail


def load_or_cache(cfg, ckpt, cache_dir):
    """``{split: cache_features(...)}`` of train and val, kept in
    ``cache_dir``."""
    return cached(ckpt, cache_dir, lambda: {
        s: cache_features(cfg, ckpt, s) for s in ('train', 'val')},
        prefix='neck_')


class LinearOnGAP(nn.Module):
    """GAP + linear: the plain baseline's neck and head."""

    def __init__(self, d, c):
        super().__init__()
        self.fc = nn.Linear(d, c)

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


class NeckHead(nn.Module):
    """LDRNeck + LDRHead on cached maps."""

    def __init__(self, neck_cfg, c):
        super().__init__()
        from ldr_mm.models import LDRHead, LDRNeck
        self.neck = LDRNeck(**neck_cfg)
        self.neck.init_weights()
        self.head = LDRHead(num_classes=c, in_channels=self.neck.embed_dims)
        self.head.init_weights()

    def forward(self, x):
        return self.head(self.neck((x, )))


def train(model, x, y, seed, epochs, lr, batch=32, warmup=50, wd=1e-5):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    per_epoch = math.ceil(len(x) / batch)
    total = epochs * per_epoch
    step = 0
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            warm = 0.1 + 0.9 * min(step / warmup, 1.0)
            cos = 1e-5 / lr + (1 - 1e-5 / lr) * 0.5 * (
                1 + math.cos(math.pi * step / total))
            for grp in opt.param_groups:
                grp['lr'] = lr * warm * cos
            loss = F.binary_cross_entropy_with_logits(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    model.eval()


@torch.no_grad()
def evaluate(model, x, y, tail):
    from ldr_mm.evaluation.functional import average_precision_per_class
    ap = average_precision_per_class(
        torch.sigmoid(model(x)).numpy(), y.numpy())
    return float(np.nanmean(ap)), float(np.nanmean(ap[tail]))


def _parse_value(v):
    try:
        return json.loads(v)
    except ValueError:
        return v


def main(argv=None):
    from mmengine.config import Config
    import ldr_mm  # noqa: F401
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument('config', help='the checkpoint\'s (suite-resolved) config')
    p.add_argument('checkpoint')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--variant', nargs='+', action='append', default=[],
                   metavar=('NAME', 'KEY=VALUE'),
                   help='an LDRNeck variant: name and neck options '
                   '(`linear` is always run)')
    p.add_argument('--out', help='write the numbers as JSON')
    p.add_argument('--cache-dir', default='work_dirs/calibration_cache')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = Config.fromfile(args.config)
    data = load_or_cache(cfg, args.checkpoint, args.cache_dir)
    xtr, ytr, tail = data['train']
    xva, yva, _ = data['val']
    d, c = xtr.shape[1], ytr.shape[1]
    neck = {k: v for k, v in cfg.model.neck.items() if k != 'type'}
    neck.update(in_channels=d, num_classes=c)
    variants = [('linear', None)] + [
        (v[0], dict(neck, **{kv.split('=', 1)[0]: _parse_value(
            kv.split('=', 1)[1]) for kv in v[1:]})) for v in args.variant]
    results = {}
    for name, ncfg in variants:
        rows = []
        for seed in args.seeds:
            torch.manual_seed(seed)
            model = LinearOnGAP(d, c) if ncfg is None else NeckHead(ncfg, c)
            train(model, xtr, ytr, seed, args.epochs, args.lr)
            rows.append(evaluate(model, xtr, ytr, tail) +
                        evaluate(model, xva, yva, tail))
        r = np.array(rows)
        results[name] = r.tolist()
        print(f'{name:12s} ' + '  '.join(
            f'{h} {m:.4f}+-{s:.4f}' for h, m, s in zip(
                ('train mAP', 'train tail', 'val mAP', 'val tail'),
                r.mean(0), r.std(0, ddof=1) if len(r) > 1 else r[0] * 0)),
            flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                           seeds=args.seeds, epochs=args.epochs,
                           columns=['train mAP', 'train tail mAP', 'val mAP',
                                    'val tail mAP'], results=results), f,
                      indent=1)


if __name__ == '__main__':
    main()
