"""NIH ChestX-ray14 -> patient-level split annotation files.

Reads ``Data_Entry_2017_v2020.csv`` (or ``Data_Entry_2017.csv``, either
layout, optionally ``.gz``) under DATA_ROOT and writes
``OUT_DIR/{train,val,test}.json`` (MMPretrain ``MultiLabelDataset`` format,
image paths relative to DATA_ROOT), then prints the split sizes and the
per-class positive counts per split with the head/tail classes.

Examples::

    # the paper's seeded patient-level 7:1:2 split (default)
    python tools/dataset_converters/nih_chestxray14.py data/nih
    # official train_val/test lists; validation = 1/8 of train_val patients
    python tools/dataset_converters/nih_chestxray14.py data/nih \
        --split-method official
    # metadata only, images not unpacked yet (paths images/<name>)
    python tools/dataset_converters/nih_chestxray14.py data/nih \
        --img-dir images
"""
import argparse



def parse_args(argv=None):
    from ldr_mm.datasets.converters import add_split_args
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root', help='the NIH ChestX-ray14 folder')
    p.add_argument('--out-dir', help='output folder (default: '
                   'DATA_ROOT/annotations)')
    p.add_argument('--ann-file', help='metadata CSV relative to DATA_ROOT '
                   '(default: Data_Entry_2017_v2020.csv or '
                   'Data_Entry_2017.csv, .gz allowed)')
    p.add_argument('--split-method', choices=['patient', 'official'],
                   default='patient')
    add_split_args(p)
    p.add_argument('--split-lists', nargs=2,
                   default=['train_val_list.txt', 'test_list.txt'],
                   metavar=('TRAIN_VAL', 'TEST'),
                   help='official lists relative to DATA_ROOT')
    p.add_argument('--img-dir', help='image folder relative to DATA_ROOT; '
                   'default: find the images (images_0XX/images/, images/) '
                   'and require all of them')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.datasets.converters import convert_nih, run_converter
    return run_converter(convert_nih, args.data_root, args.out_dir,
                         args.ann_file, args.split_method, args.ratios,
                         args.seed, args.split_lists, args.img_dir,
                         progress=True)


if __name__ == '__main__':
    main()
