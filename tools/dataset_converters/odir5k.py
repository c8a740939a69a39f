"""ODIR-5K -> patient-level split annotation files.

Reads the official training workbook
(``ODIR-5K_Training_Annotations(Updated)_V2.xlsx``) under DATA_ROOT and
writes ``OUT_DIR/{train,val,test}.json`` with a seeded patient-level 7:1:2
split, then prints the per-class counts per split (eye images and
patients) with the head/tail classes.

``--mode eye`` (default): one sample per fundus image carrying the
patient's labels and ``patient_id`` (the metrics aggregate both eyes per
patient); images whose keywords say they are no fundus photograph are left
out. ``--mode patient``: one sample per patient with both images.

Examples::

    python tools/dataset_converters/odir5k.py data/odir
    python tools/dataset_converters/odir5k.py data/odir --img-dir \
        ODIR-5K_Training_Dataset   # images not unpacked yet
"""
import argparse
import os.path as osp



def parse_args(argv=None):
    from ldr_mm.datasets.odir import ODIR_NON_FUNDUS
    p = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('data_root', help='the ODIR-5K folder')
    p.add_argument('--out-dir', help='output folder (default: '
                   'DATA_ROOT/annotations)')
    p.add_argument('--ann-file', help='workbook (or CSV of the same table) '
                   'relative to DATA_ROOT')
    p.add_argument('--mode', choices=['eye', 'patient'], default='eye')
    p.add_argument('--exclude-keywords', nargs='*',
                   default=list(ODIR_NON_FUNDUS),
                   help='leave out eye images with one of these keywords')
    p.add_argument('--ratios', type=float, nargs=3, default=[0.7, 0.1, 0.2],
                   metavar=('TRAIN', 'VAL', 'TEST'))
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--img-dir', help='image folder relative to DATA_ROOT; '
                   'default: find the images and require all of them')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.datasets.base import AnnotationError
    from ldr_mm.datasets.converters import convert_odir
    out_dir = args.out_dir or osp.join(args.data_root, 'annotations')
    try:
        res = convert_odir(args.data_root, out_dir, args.ann_file, args.mode,
                           args.exclude_keywords, args.ratios, args.seed,
                           args.img_dir, progress=True)
    except (AnnotationError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}')
    print(res.report)
    return res


if __name__ == '__main__':
    main()
