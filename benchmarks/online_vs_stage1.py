"""One-stage LDR against plain stage 1: per-epoch validation, time, identity.

For one seed's run of ``ldr_r18_*_online`` and of ``ldr_r18_*_stage1``
(``tools/benchmark_suite.py`` run folders, or any two ``tools/train.py``
work dirs), prints

* the validation AUC / mAP / tail mAP of every epoch: the stage-1 run's
  (the trained head) beside the online run's (the refitted head);
* the training wall time of each (first to last line of ``train.log``,
  validation and checkpoints included), the median logged training
  iteration time, and their ratios (both depend on the machine's load);
* whether the online run trained the same model: every tensor of its last
  checkpoint, with the trained head from the hook state, equal to the
  stage-1 run's last checkpoint (the hook only reads features).

Example::

    python benchmarks/online_vs_stage1.py \\
        /work/runs/online_demo/ldr_r18_demo_online/seed0 \\
        /work/runs/online_demo/ldr_r18_demo_stage1/seed0
"""
import argparse
import glob
import os.path as osp
import re
from datetime import datetime

import torch

VAL = re.compile(r'Epoch\(val\) \[(\d+)\]\[\d+/\d+\]\s+auc/mean: ([\d.]+)'
                 r'.*?mAP/mean: ([\d.]+).*?mAP/tail: ([\d.]+)')
ITER = re.compile(r'Epoch\(train\).*?\stime: ([\d.]+)')
STAMP = re.compile(r'^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)')


def read_log(run_dir):
    """({epoch: (AUC, mAP, tail mAP)}, training seconds, median seconds
    of a training iteration as logged) of a run."""
    logs = sorted(glob.glob(osp.join(run_dir, '*', '*.log')))
    if not logs:
        raise FileNotFoundError(f'{run_dir}: no <timestamp>/<timestamp>.log')
    text = open(logs[-1]).read().splitlines()
    val, stamps, iters = {}, [], []
    for line in text:
        t = ITER.search(line)
        if t:
            iters.append(float(t.group(1)))
        m = VAL.search(line)
        if m:
            val[int(m.group(1))] = tuple(float(g) for g in m.groups()[1:])
        s = STAMP.match(line)
        if s:
            stamps.append(datetime.strptime(s.group(1), '%Y/%m/%d %H:%M:%S'))
    iters.sort()
    return val, (stamps[-1] - stamps[0]).total_seconds(), \
        iters[len(iters) // 2]


def last_checkpoint(run_dir):
    paths = glob.glob(osp.join(run_dir, 'epoch_*.pth'))
    return max(paths,
               key=lambda p: int(re.findall(r"\d+", osp.basename(p))[0]))


def same_training(online_dir, stage1_dir) -> bool:
    from ldr_mm.utils.checkpoint import safe_load_checkpoint
    a = safe_load_checkpoint(last_checkpoint(online_dir))
    b = safe_load_checkpoint(last_checkpoint(stage1_dir))
    sd = dict(a['state_dict'])
    w, bias = a['ldr_online_reconstruction']['trained_head']
    sd['head.weight'], sd['head.bias'] = w, bias
    return sd.keys() == b['state_dict'].keys() and all(
        torch.equal(sd[k], b['state_dict'][k]) for k in sd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('online', help='run folder of the online config')
    p.add_argument('stage1', help='run folder of the stage-1 config')
    args = p.parse_args(argv)
    (v_on, t_on, i_on), (v_s1, t_s1, i_s1) = (read_log(args.online),
                                              read_log(args.stage1))
    print('| epoch | stage 1 (trained head) | online (refitted head) |')
    print('|---:|---|---|')
    for e in sorted(set(v_on) | set(v_s1)):
        fmt = lambda v: ' / '.join(f'{x:.4f}' for x in v) if v else '-'  # noqa
        print(f'| {e} | {fmt(v_s1.get(e))} | {fmt(v_on.get(e))} |')
    print(f'training wall time: stage 1 {t_s1:.0f} s, online {t_on:.0f} s, '
          f'ratio {t_on / t_s1:.3f}; median logged iteration time: stage 1 '
          f'{i_s1:.4f} s, online {i_on:.4f} s, ratio {i_on / i_s1:.3f}')
    print('same trained model as stage 1:',
          same_training(args.online, args.stage1))


if __name__ == '__main__':
    main()
