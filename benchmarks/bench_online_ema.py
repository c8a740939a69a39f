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
    python benchmarks/bench_online_ema.py --device cuda --steps 64
"""
import argparse
import time

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
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    C = args.classes
    print(f'EMA accumulation per iteration: C={C}, batch {args.batch} '
          f'(float32 features), {args.steps} iterations + final flush per '
          f'variant, momentum {args.momentum}, device={args.device}, '
          f'{torch.get_num_threads()} thread(s), torch {torch.__version__}')
    print('| D | sum x x^T | traffic/iter eager / lazy | wall s/iter '
          'eager / lazy (ratio) | CPU s/iter eager / lazy (ratio) | max rel. '
          'diff of the sums |')
    print('|---:|---:|---:|---:|---:|---:|')
    for D in args.dims:
        g = torch.Generator().manual_seed(0)
        batches = [(torch.randn(args.batch, C, D, generator=g).to(
            args.device), (torch.rand(args.batch, C, generator=g) < 0.2).to(
                args.device)) for _ in range(4)]
        times = dict(eager=[], lazy=[])
        for _ in range(args.repeats):
            t, d_eager, (nbytes, buf) = run(eager_step, args, C, D,
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
        print(f'| {D} | {gib:.2f} GiB | {4 * gib:.1f} / '
              f'{2 * gib * per_flush:.2f} GiB | {we:.3f} / {wl:.3f} '
              f'({we / wl:.2f}x) | {ce:.3f} / {cl:.3f} ({ce / cl:.2f}x) | '
              f'{diff:.1e} |', flush=True)


if __name__ == '__main__':
    main()
