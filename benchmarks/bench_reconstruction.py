"""Stage-2 costs, measured side by side in one run.

1. Statistics pass vs a plain feature-extraction pass: the same LDRNet model
   (ResNet-50, C = 14 by default, the recommended neck
   ``gap_residual='concat'``: D = 2 x 2048 = 4096) in eval mode over the same
   in-memory batches; the statistics pass adds the float64 accumulation
   (full covariance) and its final flush. Timed interleaved (A, B, A, B, ...),
   ratio of medians. Goal (issue 3): <= 1.1.
2. Peak memory of the accumulator for growing N (features streamed in
   batches, never stored): each N in a fresh subprocess, peak RSS growth on
   CPU (``ru_maxrss``) or ``max_memory_allocated`` on CUDA, next to the
   analytic bound ``GaussianAccumulator.nbytes()`` (sums + buffer; the
   peak also holds ``compute()``'s working copy of the sums). Goal: flat
   in N.
3. Virtual samples per second (C = 14, D = 2048, full and diagonal
   covariance; one batch = ``--batch`` samples) and one M-step iteration
   (sample + classifier + BCE + Adam), next to one real-image E-step train
   step (forward + GCE through the frozen head + backward + Adam) of the same
   batch size.
4. M-step solvers (C = 14, D = ``--dims`` = 2048 by default, full
   covariance): 'sgd' (``--m-iters`` Adam steps on batches of 256 virtual
   samples), 'lbfgs' (8192 virtual samples per class, L-BFGS to
   convergence), 'lda' (closed form) and 'lda' with ``blend=0.5``, next
   to one E-step round (``--e-iters`` real-image train steps of section 3's
   batch). The synthetic statistics are better conditioned than real ones,
   so L-BFGS converges in fewer iterations here than on a trained model.

    python benchmarks/bench_reconstruction.py               # CPU, R50 448 b2
    python benchmarks/bench_reconstruction.py --device cuda --batch 32
"""
import argparse
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch  # noqa: E402


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


GAP_RESIDUAL = dict(none=False, add='add', concat='concat')


def build_model(args, cache):
    from mmpretrain.registry import MODELS
    channels = 2048 if args.depth >= 50 else 512
    pre = dict(type='ClsDataPreprocessor', num_classes=args.classes,
               to_onehot=True, mean=[127.5] * 3, std=[64.] * 3)
    model = MODELS.build(dict(
        type='LDRClassifier',
        backbone=dict(type='ResNet', depth=args.depth, out_indices=(3, ),
                      init_cfg=None),
        data_preprocessor=pre,
        neck=dict(type='LDRNeck', in_channels=channels, prompt_cache=cache,
                  num_layers=1, num_heads=8,
                  gap_residual=GAP_RESIDUAL[args.gap_residual]),
        head=dict(type='LDRHead', num_classes=args.classes,
                  loss=dict(type='MultiLabelGCELoss', q=0.8))))
    model.init_weights()
    model.head.requires_grad_(False)  # as LDRStage2Classifier
    return model.to(args.device)


def make_batches(args, n):
    from bench_common import random_batch
    g = torch.Generator().manual_seed(0)
    return [random_batch(args, g) for _ in range(n)]


def bench_statistics_pass(args, model, batches):
    from ldr_mm.reconstruction import GaussianAccumulator, class_features
    model.eval()
    C, D = model.head.num_classes, model.head.in_channels
    acc = GaussianAccumulator(C, D, 'full', device=args.device)

    @torch.no_grad()
    def plain():
        for data in batches:
            data = model.data_preprocessor(data, False)
            model.extract_feat(data['inputs'])

    @torch.no_grad()
    def stats():
        for data in batches:
            acc.update(*class_features(model, data))
        acc._flush()  # the pass ends with the flush (all_reduce does it)

    def timed(fn):
        sync(args.device)
        t = time.perf_counter()
        fn()
        sync(args.device)
        return time.perf_counter() - t

    times = dict(plain=[], stats=[])
    for i in range(args.warmup + args.reps):
        order = ('plain', 'stats') if i % 2 == 0 else ('stats', 'plain')
        for name in order:
            dt = timed(plain if name == 'plain' else stats)
            if i >= args.warmup:
                times[name].append(dt)
    t = time.perf_counter()
    acc.compute()
    compute_s = time.perf_counter() - t
    # the accumulation alone at the production flush size (a long pass
    # flushes once per buffer_size images; a short pass above flushes once
    # at its end, which over-weights the read-modify-write of the sums)
    feats = torch.randn(acc.buffer_size, C, D, device=args.device)
    labels = torch.rand(acc.buffer_size, C, device=args.device) < 0.2
    acc_t = []
    for _ in range(args.reps):
        sync(args.device)
        t = time.perf_counter()
        for i in range(0, acc.buffer_size, args.batch):
            acc.update(feats[i:i + args.batch], labels[i:i + args.batch])
        acc._flush()
        sync(args.device)
        acc_t.append((time.perf_counter() - t) / acc.buffer_size)
    per_img_acc = statistics.median(acc_t)
    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.batch * len(batches)
    print(f'\n[1] statistics pass vs plain feature extraction: ResNet-'
          f'{args.depth} {args.size}x{args.size}, batch {args.batch} x '
          f'{len(batches)} batches ({n} images), C={C}, D={D}, full '
          f'covariance, device={args.device}')
    for k, label in (('plain', 'plain extraction'), ('stats',
                                                     'statistics pass')):
        print(f'  {label:17s} median {med[k]:8.3f} s   ({n / med[k]:7.1f} '
              'img/s; all: ' + ', '.join(f'{x:.2f}' for x in times[k]) +
              ')')
    ratio = med['stats'] / med['plain']
    best = min(times['stats']) / min(times['plain'])
    print(f'  ratio statistics / plain = {ratio:.3f} (medians), {best:.3f} '
          f'(fastest passes) for this {n}-image pass (one flush of the '
          f'sums at its end)')
    per_img_plain = med['plain'] / n
    projected = 1 + per_img_acc / per_img_plain
    print(f'  accumulation alone, flushing every {acc.buffer_size} images: '
          f'{per_img_acc * 1000:.2f} ms/image vs extraction '
          f'{per_img_plain * 1000:.1f} ms/image -> a long pass takes '
          f'{projected:.3f}x the plain pass')
    goal = ratio if n >= acc.buffer_size else projected
    which = 'this pass' if n >= acc.buffer_size else 'long pass'
    print(f'  goal <= 1.1 ({which}): {"met" if goal <= 1.1 else "NOT met"}')
    print(f'  once per round: compute() mu/Sigma + regularisation '
          f'{compute_s:.2f} s; accumulator {acc.nbytes() / 2**20:.0f} MiB')
    return ratio


MEM_CHILD = r'''
import torch
from ldr_mm.reconstruction import GaussianAccumulator
dev, C, D, N, B = {device!r}, {C}, {D}, {N}, {B}


def rss():  # current and peak resident set size (Linux), bytes
    d = dict(l.split(':', 1) for l in open('/proc/self/status'))
    return (int(d['VmRSS'].split()[0]) * 1024,
            int(d['VmHWM'].split()[0]) * 1024)


g = torch.Generator(device=dev).manual_seed(0)
x0 = torch.randn(B, C, D, generator=g, device=dev)  # warm the allocator
if dev.startswith('cuda'):
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
else:
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # reset the peak RSS to the current RSS
    base = rss()[0]
acc = GaussianAccumulator(C, D, 'full', device=dev)
for i in range(0, N, B):
    x = torch.randn(B, C, D, generator=g, device=dev)
    y = torch.rand(B, C, generator=g, device=dev) < 0.2
    acc.update(x, y)
acc.compute()
if dev.startswith('cuda'):
    peak = torch.cuda.max_memory_allocated() - base
else:
    peak = rss()[1] - base
print(peak, acc.nbytes())
'''


def bench_memory(args):
    C, D = args.classes, args.mem_dims
    print(f'\n[2] accumulator peak memory vs N (C={C}, D={D}, full, batches '
          f'of 32, device={args.device}; each N in a fresh process)')
    print(f'  {"N":>8s} {"peak growth MiB":>16s} {"nbytes() MiB":>13s}  '
          '(sums + buffer; compute() adds one copy of the sums)')
    peaks = []
    for N in args.mem_n:
        code = MEM_CHILD.format(device=args.device, C=C, D=D, N=N, B=32)
        # fixed mmap threshold: freed buffers go back to the OS, so RSS
        # tracks live memory rather than heap fragmentation
        out = subprocess.run([sys.executable, '-c', code],
                             capture_output=True, text=True,
                             env=dict(os.environ, PYTHONWARNINGS='ignore',
                                      MALLOC_MMAP_THRESHOLD_='65536'))
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        peak, bound = map(int, out.stdout.split()[-2:])
        peaks.append(peak)
        print(f'  {N:8d} {peak / 2**20:16.1f} {bound / 2**20:13.1f}')
    growth = peaks[-1] / max(peaks[0], 1)
    print(f'  largest / smallest N peak = {growth:.2f} for '
          f'{args.mem_n[-1] // args.mem_n[0]}x the samples; goal flat '
          f'(<= 1.1): {"met" if growth <= 1.1 else "NOT met"}')


def synthetic_statistics(C, D, device):
    """SPD covariances I/2 + U U^T (rank 16) without an O(D^3) product."""
    from ldr_mm.reconstruction import GaussianStatistics
    g = torch.Generator().manual_seed(0)
    u = torch.randn(C, 2, D, 16, generator=g, dtype=torch.float64) / 4
    cov = u @ u.transpose(-1, -2)
    cov.diagonal(dim1=-2, dim2=-1).add_(0.5)
    counts = torch.tensor([[900, 100]] * C)
    z = torch.zeros(C, 2, dtype=torch.float64)
    return GaussianStatistics(
        'full', counts, torch.randn(C, 2, D, generator=g,
                                    dtype=torch.float64), cov, z, z,
        counts > 0, []).to(device)


def bench_sampling(args, model, batches):
    from ldr_mm.reconstruction import ReverseSampler
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    C, D = args.classes, args.dims
    st = synthetic_statistics(C, D, args.device)
    dev = torch.device(args.device)
    vbatches = sorted({args.vbatch, 256})
    print(f'\n[3] virtual samples (C={C}, D={D}) vs one real-image E-step '
          f'(ResNet-{args.depth} {args.size}x{args.size}, batch '
          f'{args.batch}), device={args.device}')
    results = {}
    for cov_type in ('full', 'diag'):
        s = st if cov_type == 'full' else type(st)(
            'diag', st.counts, st.mean, st.variances().clone(), st.shrinkage,
            st.ridge, st.valid, [])
        t = time.perf_counter()
        sampler = ReverseSampler().fit(s, device=dev)
        sync(dev)
        fit_s = time.perf_counter() - t
        gen = torch.Generator(device=dev).manual_seed(0)
        for vb in vbatches:
            sampler.sample(vb, gen)
            times = []
            for _ in range(args.reps * 3):
                sync(dev)
                t = time.perf_counter()
                sampler.sample(vb, gen)
                sync(dev)
                times.append(time.perf_counter() - t)
            med = statistics.median(times)
            results[(cov_type, vb)] = med
            print(f'  sample {cov_type:4s} batch {vb:4d}: {med * 1000:9.2f} '
                  f'ms = {vb / med:10.0f} samples/s')
        print(f'  ({cov_type} factor, once per round: {fit_s:.2f} s)')
        if cov_type == 'full':
            head = MODELS.build(dict(type='LDRHead', num_classes=C,
                                     in_channels=D)).to(dev)
            ow = build_optim_wrapper(head, dict(
                type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))
            loss_fn = torch.nn.BCEWithLogitsLoss()
            mtimes = []
            for i in range(args.reps * 3 + 1):
                sync(dev)
                t = time.perf_counter()
                x, y = sampler.sample(args.vbatch, gen)
                ow.update_params(loss_fn(head.classify(x), y))
                sync(dev)
                if i:
                    mtimes.append(time.perf_counter() - t)
            results['m_iter'] = statistics.median(mtimes)
            print(f'  one M-step iteration, batch {args.vbatch} (sample + '
                  f'classifier + BCE + Adam): '
                  f'{results["m_iter"] * 1000:9.2f} ms')
    # the real E-step
    model.train()
    ow = build_optim_wrapper(model, dict(
        type='AmpOptimWrapper' if args.amp else 'OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-5)))
    times = []
    for i in range(args.warmup + args.reps):
        sync(dev)
        t = time.perf_counter()
        model.train_step(batches[i % len(batches)], ow)
        sync(dev)
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    step = statistics.median(times)
    print(f'  real-image E-step train step: {step * 1000:9.1f} ms / batch = '
          f'{args.batch / step:8.1f} images/s'
          f'{" (amp)" if args.amp else ""}')
    full = results[('full', args.vbatch)]
    print(f'  batch {args.batch}: a real step takes {step / full:.1f}x the '
          f'time of drawing {args.vbatch} virtual samples (full) and '
          f'{step / results["m_iter"]:.1f}x a whole M-step iteration')
    return step


def bench_solvers(args, e_step: float):
    """Section 4: one M-step with each solver vs one E-step round."""
    from mmengine.optim import build_optim_wrapper

    from ldr_mm.reconstruction import ReverseSampler
    from ldr_mm.reconstruction.m_step import (lbfgs_m_step, lda_m_step,
                                              sgd_m_step)
    from mmpretrain.registry import MODELS
    C, D, dev = args.classes, args.dims, torch.device(args.device)
    st = synthetic_statistics(C, D, args.device)
    sampler = ReverseSampler().fit(st, device=dev)
    head = MODELS.build(dict(type='LDRHead', num_classes=C,
                             in_channels=D)).to(dev)
    ow = build_optim_wrapper(head, dict(
        type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4)))
    bce = torch.nn.BCEWithLogitsLoss(reduction='sum')
    gen = torch.Generator(device=dev).manual_seed(0)
    w, b = head.weight.data, head.bias.data
    runs = dict(
        sgd=lambda: sgd_m_step(head.classify, list(head.parameters()),
                               sampler, ow, lambda x, y, avg_factor: bce(
                                   x, y) / avg_factor, args.m_iters, 256,
                               gen),
        lbfgs=lambda: lbfgs_m_step(w, b, sampler, gen),
        lda=lambda: lda_m_step(w, b, st, sampler.prob),
        # + the standardisation of both heads (two quadratic forms per class)
        lda_blend=lambda: lda_m_step(w, b, st, sampler.prob, blend=0.5,
                                     anchor=(w.clone(), b.clone())))
    round_s = e_step * args.e_iters
    print(f'\n[4] M-step solvers (C={C}, D={D}, full covariance) vs one '
          f'E-step round ({args.e_iters} steps x {e_step:.2f} s = '
          f'{round_s:.0f} s at batch {args.batch})')
    for name, fn in runs.items():
        sync(dev)
        t = time.perf_counter()
        out = fn()
        sync(dev)
        sec = time.perf_counter() - t
        extra = (f', objective {out[0]:.4f} -> {out[1]:.4f}'
                 if name == 'lbfgs' else '')
        print(f'  {name:9s}: {sec:8.2f} s = {sec / round_s:.4f} of an '
              f'E-step round{extra}')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--depth', type=int, default=50)
    p.add_argument('--size', type=int, default=448)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--batches', type=int, default=4,
                   help='batches per statistics / extraction pass')
    p.add_argument('--vbatch', type=int, default=None,
                   help='virtual batch size (default: --batch)')
    p.add_argument('--classes', type=int, default=14)
    p.add_argument('--dims', type=int, default=2048,
                   help='D of sections 3 and 4 (class-aware feature width; '
                   "4096 for ResNet-50 with the recommended gap_residual="
                   "'concat')")
    p.add_argument('--gap-residual', default='concat',
                   choices=sorted(GAP_RESIDUAL),
                   help="LDRNeck.gap_residual of section 1's model (default "
                   "'concat', the recommended neck: its statistics are 2 x "
                   "the backbone width; 'none' is the paper's neck)")
    p.add_argument('--prompt-tokens', type=int, default=48)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--mem-dims', type=int, default=None,
                   help='D of the memory sweep (default 512 on CPU, 2048 on '
                   'CUDA)')
    p.add_argument('--mem-n', type=int, nargs='+',
                   default=[1024, 4096, 16384])
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true')
    p.add_argument('--m-iters', type=int, default=500,
                   help="'sgd' M-step iterations (default 500, NIH config)")
    p.add_argument('--e-iters', type=int, default=500,
                   help='E-step iterations per round (default 500, NIH)')
    p.add_argument('--skip', nargs='*', default=[],
                   choices=['stats', 'memory', 'sampling', 'solvers'])
    args = p.parse_args(argv)
    args.vbatch = args.vbatch or args.batch
    if args.mem_dims is None:
        args.mem_dims = 2048 if args.device.startswith('cuda') else 512

    import logging

    from mmengine.logging import MMLogger
    import ldr_mm  # noqa: F401
    from ldr_mm.prompts import save_random_prompt_cache
    # no per-parameter init report
    MMLogger.get_instance('bench_reconstruction', log_level=logging.WARNING)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'device {args.device}'
          + (f' ({torch.cuda.get_device_name()})'
             if args.device.startswith('cuda') else ''))
    with tempfile.TemporaryDirectory() as tmp:
        cache = osp.join(tmp, 'prompt.pth')
        classes = [f'class{i}' for i in range(args.classes)]
        save_random_prompt_cache(cache, classes, args.prompt_tokens, 512,
                                 pretrained='bench')
        model = build_model(args, cache)
    batches = make_batches(args, args.batches)
    if 'stats' not in args.skip:
        bench_statistics_pass(args, model, batches)
    if 'memory' not in args.skip:
        bench_memory(args)
    if 'sampling' not in args.skip:
        e_step = bench_sampling(args, model, batches)
        if 'solvers' not in args.skip:
            bench_solvers(args, e_step)


if __name__ == '__main__':
    main()
