"""Generate the built-in long-tailed multi-label demo dataset."""
import argparse


def main(argv=None):
    from ldr_mm.datasets.demo import (DEMO_CLASSES, DEMO_SPLITS,
                                      generate_demo_dataset)
    from ldr_mm.datasets.synthetic import split_count_report
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
    print(f'Demo dataset in {args.root}')
    print(split_count_report(anns, DEMO_CLASSES))


if __name__ == '__main__':
    main()
