"""AxSpA slice table -> patient-level split annotation files.

Reads DATA_ROOT/ANN_FILE (CSV or JSON, format in ``docs/datasets.md``: one
row per MRI slice with ``patient_id``, ``img_path`` and the 12 labels ER EL
SR SL JSR JSL OR OL LR LL BMER BMEL), checks it, and writes
``OUT_DIR/{train,val,test}.json``: the file's own ``split`` column if it
has one, else a seeded patient-level 7:1:2 split by slice count. Prints the
per-class counts per split with the head/tail classes.

Example::

    python tools/dataset_converters/axspa.py data/axspa \
        --ann-file annotations.csv
"""
import argparse



def parse_args(argv=None):
    from ldr_mm.datasets.converters import add_split_args
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root', help='the AxSpA folder')
    p.add_argument('--ann-file', default='annotations.csv',
                   help='slice table relative to DATA_ROOT')
    p.add_argument('--out-dir', help='output folder (default: '
                   'DATA_ROOT/annotations)')
    p.add_argument('--split-method',
                   choices=['auto', 'column', 'patient', 'stratified'],
                   default='auto')
    add_split_args(p)
    p.add_argument('--no-check-files', action='store_true',
                   help='do not check that the slice images exist')
    p.add_argument('--ignore-columns', nargs='*', default=[],
                   help='extra columns to accept and ignore')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.datasets.converters import convert_axspa, run_converter
    return run_converter(convert_axspa, args.data_root, args.out_dir,
                         args.ann_file, args.split_method, args.ratios,
                         args.seed, not args.no_check_files,
                         args.ignore_columns,
                         progress=True)


if __name__ == '__main__':
    main()
