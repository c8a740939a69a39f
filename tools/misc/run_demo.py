"""`make demo`: train LDRNet on the built-in demo data and print the metrics.

Steps (each skipped when its output already exists, unless --force):
  1. generate the long-tailed multi-label demo dataset (data/ldr_demo);
  2. write the prompt cache from a randomly initialised CLIP (no weights can
     be downloaded here; the README says how to use real CLIP weights);
  3. train stage 1 (configs/ldrnet/ldr_r18_demo_stage1.py) and test its best
     (validation AUC) checkpoint on the test split;
  4. if configs/ldrnet/ldr_r18_demo_stage2.py exists: train stage 2 from that
     checkpoint and test it;
  5. print all / head / tail AUC and mAP of each stage side by side.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))

STAGE1 = 'configs/ldrnet/ldr_r18_demo_stage1.py'
STAGE2 = 'configs/ldrnet/ldr_r18_demo_stage2.py'
DATA = 'data/ldr_demo'
PROMPT = 'data/ldr_demo/prompt_ViT-B-32_random.pth'


def run(cmd, log_path):
    """Run a command, stream its progress lines, keep the full log."""
    print('$ ' + ' '.join(cmd), flush=True)
    t = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=dict(os.environ, PYTHONUNBUFFERED='1',
                                HF_HUB_OFFLINE='1'))
        for line in proc.stdout:
            log.write(line)
            if any(k in line for k in ('Epoch(val)', 'Iter(val)',
                                       'Traceback', 'Error', 'Wrote ',
                                       'Saving checkpoint', 'round')):
                print('  ' + line.rstrip()[-160:], flush=True)
        proc.wait()
    if proc.returncode != 0:
        print(open(log_path).read()[-4000:])
        raise SystemExit(f'Command failed ({proc.returncode}); full log: '
                         f'{log_path}')
    print(f'  done in {time.time() - t:.0f} s (log: {log_path})', flush=True)


def best_checkpoint(work_dir):
    found = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')),
                   key=osp.getmtime)
    if not found:
        raise SystemExit(f'No best_*.pth checkpoint in {work_dir}')
    return found[-1]


def train_and_test(name, config, work_dir, extra, force):
    metrics_file = osp.join(work_dir, 'test_metrics.json')
    if force or not osp.isfile(metrics_file):
        run([sys.executable, 'tools/train.py', config, '--work-dir', work_dir]
            + (['--cfg-options'] + extra if extra else []),
            osp.join(work_dir + '_train.log'))
        ckpt = best_checkpoint(work_dir)
        run([sys.executable, 'tools/test.py', config, ckpt, '--work-dir',
             work_dir, '--metrics-out', metrics_file, '--out',
             osp.join(work_dir, 'test_scores.csv')] +
            (['--cfg-options'] + extra if extra else []),
            osp.join(work_dir + '_test.log'))
    else:
        print(f'{name}: reusing {metrics_file} (use --force to retrain)')
    with open(metrics_file) as f:
        return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--force', action='store_true',
                        help='retrain even if results exist')
    parser.add_argument('--stage1-only', action='store_true')
    args = parser.parse_args(argv)
    os.chdir(REPO)
    os.makedirs(args.work_dir, exist_ok=True)
    t0 = time.time()

    print('[1/4] demo dataset', flush=True)
    run([sys.executable, 'tools/misc/make_demo_dataset.py', DATA],
        osp.join(args.work_dir, 'dataset.log'))
    print(open(osp.join(args.work_dir, 'dataset.log')).read())

    print('[2/4] prompt cache (random CLIP weights: no download here)',
          flush=True)
    if args.force or not osp.isfile(PROMPT):
        run([sys.executable, 'tools/misc/extract_prompt_embeddings.py',
             STAGE1, '--weights', 'none', '--out', PROMPT],
            osp.join(args.work_dir, 'prompt.log'))

    print('[3/4] stage 1: label decoupling', flush=True)
    results = {}
    s1_dir = osp.join(args.work_dir, 'stage1')
    results['stage 1'] = train_and_test('stage 1', STAGE1, s1_dir, [],
                                        args.force)
    if not args.stage1_only and osp.isfile(osp.join(REPO, STAGE2)):
        print('[4/4] stage 2: label distribution reconstruction', flush=True)
        s2_dir = osp.join(args.work_dir, 'stage2')
        stage1_ckpt = best_checkpoint(s1_dir)
        results['stage 2'] = train_and_test(
            'stage 2', STAGE2, s2_dir,
            [f'model.stage1_checkpoint={stage1_ckpt}'], args.force)
    else:
        print('[4/4] stage 2: skipped')

    from ldr_mm.evaluation.report import format_table
    rows = []
    for key, label in (('auc', 'AUC'), ('mAP', 'mAP'), ('bACC', 'bACC'),
                       ('mACC', 'mACC')):
        for group in ('mean', 'head', 'tail'):
            rows.append([f'{label} {"all" if group == "mean" else group}'] +
                        [r['metrics'].get(f'{key}/{group}')
                         for r in results.values()])
    from ldr_mm.datasets.demo import DEMO_SPLITS
    print(f'\nDemo test split ({DEMO_SPLITS["test"]} images; head = 4 most '
          'frequent classes, tail = 6 rarest; seed 0). AUC, mAP: ranking; '
          'bACC (balanced accuracy) and mACC (accuracy) at threshold 0.5:')
    print(format_table(['metric'] + list(results), rows))
    print(f'\nTotal time {time.time() - t0:.0f} s. Per-class tables: '
          f'{args.work_dir}/stage*_test.log')


if __name__ == '__main__':
    main()
