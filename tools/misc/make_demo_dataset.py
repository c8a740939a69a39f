"""Generate the built-in long-tailed multi-label demo dataset."""
import argparse

import numpy as np  # noqa: E402


def main(argv=None):
    from ldr_mm.datasets.demo import (DEMO_CLASSES, DEMO_SPLITS,
                                      generate_demo_dataset)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('root', nargs='?', default='data/ldr_demo')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=int, default=96, help='image side')
    parser.add_argument(
        '--splits',
        nargs=3,
        type=int,
        metavar=('TRAIN', 'VAL', 'TEST'),
        default=[DEMO_SPLITS[k] for k in ('train', 'val', 'test')])
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    splits = dict(zip(('train', 'val', 'test'), args.splits))
    anns = generate_demo_dataset(
        args.root, seed=args.seed, splits=splits, size=args.size,
        overwrite=args.overwrite)
    import json
    print(f'Demo dataset in {args.root}')
    print('class'.ljust(10) + ''.join(s.rjust(8) for s in anns))
    counts = {}
    for split, ann in anns.items():
        with open(ann) as f:
            data = json.load(f)['data_list']
        c = np.zeros(len(DEMO_CLASSES), dtype=int)
        for d in data:
            c[d['gt_label']] += 1
        counts[split] = c
    for i, name in enumerate(DEMO_CLASSES):
        print(name.ljust(10) +
              ''.join(str(counts[s][i]).rjust(8) for s in anns))
    tr = counts['train'] if 'train' in counts else next(iter(counts.values()))
    print(f'imbalance ratio (train, max/min positives): '
          f'{tr.max() / max(tr.min(), 1):.1f}')


if __name__ == '__main__':
    main()
