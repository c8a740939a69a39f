"""One-stage LDR's EMA statistics: per-iteration cost, eager vs lazy decay.

``OnlineReconstructionHook(statistics='ema')`` decays the float64 sums of
:class:`~ldr_mm.reconstruction.GaussianAccumulator` by ``1 - momentum``
before adding every training batch. Two ways of doing that, measured side
by side in one run on the same random float32 features (C classes, width
D, batches of ``--batch``):

* eager (the accumulator before the lazy decay): flush the buffer, then
  multiply n, sum x and the C x 2 x D x D sum x x^T, then ``update`` -- two
  read-modify-writes of the covariance sums per iteration (the scaling and
  the flush's matmul of one batch);
* lazy (``GaussianAccumulator.scale_`` now): n and sum x are scaled, the
  buffered samples' weights are scaled, and the decay of sum x x^T is
  applied by the next flush (one per ``buffer_size`` samples, as plain
  accumulation) in the same matmul.

With ``--old dense`` the old variant is instead the lazy decay with the
flush up to 11d2306, before the per-label products: one batched
matmul over both labels of every buffered sample,
``(C, 2D, B) @ (C, B, D)``, whose one-hot label weights make half of its
multiply-adds products with zero; the new flush multiplies each (class,
label) group's own samples only. ``--momentum 0`` then times plain
accumulation (stage 2's statistics pass: ``scale_(1)`` is a no-op on
sum x x^T).

Both run ``--steps`` iterations and end with a flush (what a refit or a
checkpoint does); the time per iteration is the total over the steps
(take a multiple of ``buffer_size / batch`` steps so the lazy flushes are
all counted). The final sums of the two are compared. The two variants run
one after the other, alternating ``--repeats`` times (one set of sums in
memory at a time), with ``--threads`` intra-op threads; the fastest repeat
of each is printed, as wall time and as this process's CPU time (on a
shared machine the CPU time is the cost, the wall time also holds the
waits for a core). The traffic column is the covariance sums read and
written per iteration (eager: the scaling and the flush, each a read and a
write of C x 2 x D x D float64; lazy: one flush per ``buffer_size``
samples).

    python benchmarks/bench_online_ema.py --dims 2048 4096 --steps 8
    python benchmarks/bench_online_ema.py --old dense --momentum 0 --steps 16
    python benchmarks/bench_online_ema.py --device cuda --steps 64
"""
import argparse
import time
import types

import torch


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def eager_step(acc, factor, x, y):
    """The pre-lazy ``scale_`` then ``update``."""
    acc._flush()
    for t in (acc.n, acc.s, acc.ss):
        t.mul_(factor)
    acc.update(x, y)


def lazy_step(acc, factor, x, y):
    """What the hook does now."""
    acc.scale_(factor)
    acc.update(x, y)


def dense_flush(acc):
    """``GaussianAccumulator._flush`` before the per-label products: one
    batched matmul over both labels of all buffered samples."""
    decay, acc._decay = acc._decay, 1.0
    if not acc._buffered:
        if decay != 1.0:
            acc.ss.mul_(decay)
        return
    C, D = acc.num_classes, acc.dims
    x = torch.cat(acc._buf_x).to(torch.float64)  # (B, C, D)
    w = torch.cat(acc._buf_y)  # (B, C, 2)
    B = x.shape[0]
    acc._buf_x, acc._buf_y, acc._buffered = [], [], 0
    xw = w.unsqueeze(-1) * x.unsqueeze(2)  # (B, C, 2, D)
    acc.ss.view(C, 2 * D, D).baddbmm_(
        xw.permute(1, 2, 3, 0).reshape(C, 2 * D, B), x.permute(1, 0, 2),
        beta=decay)


def dense_step(acc, factor, x, y):
    """``lazy_step`` with the flush before the per-label products."""
    if not hasattr(acc, '_dense'):
        acc._flush = types.MethodType(dense_flush, acc)
        acc._dense = True
    lazy_step(acc, factor, x, y)


def run(step, args, C, D, batches):
    """(wall, CPU) seconds per iteration and a digest of the final
    sums."""
    from ldr_mm.reconstruction import GaussianAccumulator
    acc = GaussianAccumulator(C, D, 'full', device=args.device)
    factor = 1 - args.momentum
    step(acc, factor, *batches[0])  # warm-up (allocations)
    acc._flush()
    sync(args.device)
    t, c = time.perf_counter(), time.process_time()
    for i in range(args.steps):
        step(acc, factor, *batches[i % len(batches)])
    acc._flush()
    sync(args.device)
    per_step = ((time.perf_counter() - t) / args.steps,
                (time.process_time() - c) / args.steps)
    digest = dict(n=acc.n.cpu(), s=acc.s.cpu(),
                  corner=acc.ss[:, :, :64, :64].cpu(),
                  total=float(acc.ss.sum()))
    nbytes = acc.ss.numel() * acc.ss.element_size(), acc.buffer_size
    del acc
    if str(args.device).startswith('cuda'):
        torch.cuda.empty_cache()
    return per_step, digest, nbytes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--classes', type=int, default=14)
    p.add_argument('--dims', type=int, nargs='+', default=[2048, 4096])
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=8,
                   help='iterations per variant (default 8: one flush of '
                   'the 256-sample buffer at batch 32)')
    p.add_argument('--momentum', type=float, default=0.01)
    p.add_argument('--device', default='cpu')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--old', choices=['eager', 'dense'], default='eager',
                   help="the variant timed against the accumulator now: "
                   "'eager' decay (default) or the 'dense' flush over both "
                   'labels of every sample')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    C = args.classes
    print(f'EMA accumulation per iteration: C={C}, batch {args.batch} '
          f'(float32 features), {args.steps} iterations + final flush per '
          f'variant, momentum {args.momentum}, device={args.device}, '
          f'{torch.get_num_threads()} thread(s), torch {torch.__version__}')
    old, old_step = args.old, dict(eager=eager_step, dense=dense_step)[
        args.old]
    new = 'lazy' if old == 'eager' else 'now'
    print(f'| D | sum x x^T | traffic/iter {old} / {new} | wall s/iter '
          f'{old} / {new} (ratio) | CPU s/iter {old} / {new} (ratio) | max '
          'rel. diff of the sums |')
    print('|---:|---:|---:|---:|---:|---:|')
    for D in args.dims:
        g = torch.Generator().manual_seed(0)
        batches = [(torch.randn(args.batch, C, D, generator=g).to(
            args.device), (torch.rand(args.batch, C, generator=g) < 0.2).to(
                args.device)) for _ in range(4)]
        times = dict(eager=[], lazy=[])
        for _ in range(args.repeats):
            t, d_eager, (nbytes, buf) = run(old_step, args, C, D,
                                            batches)
            times['eager'].append(t)
            t, d_lazy, _ = run(lazy_step, args, C, D, batches)
            times['lazy'].append(t)
        (we, ce), (wl, cl) = (
            [min(t[k] for t in times[v]) for k in (0, 1)]
            for v in ('eager', 'lazy'))
        gib = nbytes / 2**30
        per_flush = args.batch / max(args.batch, buf)
        diff = max(
            float(((d_eager[k] - d_lazy[k]).abs().max() /
                   d_eager[k].abs().max()))
            for k in ('n', 's', 'corner'))
        diff = max(diff, abs(d_eager['total'] - d_lazy['total']) /
                   abs(d_eager['total']))
        old_traffic = 4 * gib if old == 'eager' else 2 * gib * per_flush
        print(f'| {D} | {gib:.2f} GiB | {old_traffic:.2f} / '
              f'{2 * gib * per_flush:.2f} GiB | {we:.3f} / {wl:.3f} '
              f'({we / wl:.2f}x) | {ce:.3f} / {cl:.3f} ({ce / cl:.2f}x) | '
              f'{diff:.1e} |', flush=True)


if __name__ == '__main__':
    main()
