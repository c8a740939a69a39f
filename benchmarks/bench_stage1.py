"""Stage-1 train-step time of LDRNet over a plain MMPretrain multi-label model.

Both models use the same backbone (ResNet-50 by default), input size and
batch; the plain model is MMPretrain's own multi-label recipe
(GlobalAveragePooling + MultiLabelLinearClsHead, BCE). One "step" is
data-preprocess + forward + loss + backward + Adam update through MMEngine's
``train_step``. The two are timed interleaved (A, B, A, B, ...) in one run so
machine noise hits both alike; the ratio of medians is printed.

Goal (issue 2): LDR / plain <= 1.3.

    python benchmarks/bench_stage1.py                       # R50, 448, b2, CPU
    python benchmarks/bench_stage1.py --device cuda --batch 32 --amp
"""
import argparse
import os.path as osp
import statistics
import tempfile
import time

import torch  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402

from mmpretrain.registry import MODELS  # noqa: E402
from bench_common import random_batch  # noqa: E402


def build_models(args, cache):
    backbone = dict(type='ResNet', depth=args.depth, out_indices=(3, ),
                    init_cfg=None)
    channels = 2048 if args.depth >= 50 else 512
    pre = dict(type='ClsDataPreprocessor', num_classes=args.classes,
               to_onehot=True, mean=[127.5] * 3, std=[64.] * 3)
    ldr = MODELS.build(dict(
        type='LDRClassifier', backbone=backbone, data_preprocessor=pre,
        neck=dict(type='LDRNeck', in_channels=channels, prompt_cache=cache,
                  num_layers=args.layers, num_heads=8,
                  feedforward_channels=args.ffn),
        head=dict(type='LDRHead', num_classes=args.classes)))
    plain = MODELS.build(dict(
        type='ImageClassifier', backbone=backbone, data_preprocessor=pre,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='MultiLabelLinearClsHead', num_classes=args.classes,
                  in_channels=channels)))
    return dict(ldr=ldr, plain=plain)


def make_batch(args):
    return random_batch(args, torch.Generator().manual_seed(0))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--depth', type=int, default=50)
    p.add_argument('--size', type=int, default=448)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--classes', type=int, default=14)
    p.add_argument('--prompt-tokens', type=int, default=48,
                   help='M; the NIH prompt has ~45 CLIP tokens')
    p.add_argument('--layers', type=int, default=1)
    p.add_argument('--ffn', type=int, default=None,
                   help='FFN width (default: the neck default, D)')
    p.add_argument('--reps', type=int, default=6)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true')
    return p.parse_args(argv)


def prepare_models(args):
    """Both models, built after seeding torch with 0, the LDR neck with a
    random prompt cache of ``--prompt-tokens`` tokens."""
    import ldr_mm  # noqa: F401
    from ldr_mm.prompts import save_random_prompt_cache
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        cache = osp.join(tmp, 'prompt.pth')
        classes = [f'class{i}' for i in range(args.classes)]
        save_random_prompt_cache(cache, classes, args.prompt_tokens, 512,
                                 pretrained='bench')
        models = build_models(args, cache)
    return models


def optim_wrappers(args, models):
    """Initialise each model, move it to the device, train mode; its
    optimiser wrapper (Adam, AMP with ``--amp``)."""
    wrappers = {}
    for name, m in models.items():
        m.init_weights()
        m.to(args.device).train()
        wrappers[name] = build_optim_wrapper(m, dict(
            type='AmpOptimWrapper' if args.amp else 'OptimWrapper',
            optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-5)))
    return wrappers


def peak_memory(models, wrappers, batch):
    """GiB of GPU memory at the peak of one step of each model, alone."""
    peak = {}
    for name in models:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        models[name].train_step(batch, wrappers[name])
        torch.cuda.synchronize()
        peak[name] = torch.cuda.max_memory_allocated() / 2**30
    return peak


def time_steps(args, models, wrappers, batch):
    """Seconds of each timed step per model, interleaved (ldr, plain,
    plain, ldr, ...), the first ``--warmup`` rounds left out."""
    cuda = args.device.startswith('cuda')

    def step(name):
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        models[name].train_step(batch, wrappers[name])
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t

    times = {k: [] for k in models}
    for i in range(args.warmup + args.reps):
        for name in (('ldr', 'plain') if i % 2 == 0 else ('plain', 'ldr')):
            dt = step(name)
            if i >= args.warmup:
                times[name].append(dt)
    return times


def report(args, params, times, peak):
    """Print the setting, each model's steps and the ratio; the ratio of
    the median steps, LDR / plain."""
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f'Stage-1 train step, ResNet-{args.depth}, {args.size}x{args.size},'
          f' batch {args.batch}, C={args.classes}, M={args.prompt_tokens}, '
          f'encoder layers={args.layers}, device={args.device}'
          f'{", amp" if args.amp else ""}, torch threads='
          f'{torch.get_num_threads()}')
    for k in ('plain', 'ldr'):
        print(f'  {k:6s} params {params[k]:7.2f} M   median step '
              f'{med[k] * 1000:9.1f} ms' +
              (f'   peak GPU memory {peak[k]:6.2f} GiB' if peak else '') +
              '   (all: ' + ', '.join(f'{t * 1000:.0f}' for t in times[k]) +
              ')')
    ratio = med['ldr'] / med['plain']
    best = min(times['ldr']) / min(times['plain'])
    print(f'  ratio LDR / plain = {ratio:.3f} (medians), {best:.3f} (fastest '
          'steps, the better estimate on a busy machine)')
    print(f'  goal <= 1.3 (medians): {"met" if ratio <= 1.3 else "NOT met"}')
    return ratio


def main(argv=None):
    args = parse_args(argv)
    models = prepare_models(args)
    batch = make_batch(args)
    wrappers = optim_wrappers(args, models)
    params = {k: sum(p.numel() for p in m.parameters()) / 1e6
              for k, m in models.items()}
    # peak memory of one step of each model, measured alone
    peak = peak_memory(models, wrappers, batch) \
        if args.device.startswith('cuda') else {}
    times = time_steps(args, models, wrappers, batch)
    return report(args, params, times, peak)


if __name__ == '__main__':
    main()
