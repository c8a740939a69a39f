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



def parse_args(argv=None):
    from ldr_mm.datasets.converters import add_split_args
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
    add_split_args(p)
    p.add_argument('--img-dir', help='image folder relative to DATA_ROOT; '
                   'default: find the images and require all of them')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.datasets.converters import convert_odir, run_converter
    return run_converter(convert_odir, args.data_root, args.out_dir,
                         args.ann_file, args.mode, args.exclude_keywords,
                         args.ratios, args.seed, args.img_dir,
                         progress=True)


if __name__ == '__main__':
    main()
