"""Check that every image of a dataset split can be read, as the pipeline
reads it (MMPretrain's ``tools/misc/verify_dataset.py`` for ldr_mm).

MMPretrain's tool accepts only ``LoadImageFromFile`` and stops at the
datasets' own up-front existence checks. This one takes the split's loading
transform, whichever it is (``LoadMedicalImage`` for 16-bit PNGs and
multi-image samples, ``LoadImageFromFile`` ...), builds the dataset from the
annotation file alone (no up-front image check: a missing image is reported
like a corrupt one), runs the loader on every sample with a progress bar,
and writes one line per broken image with the reason::

    python tools/misc/verify_dataset.py CONFIG --split train \\
        --out-path brokenfiles.log [--num-process 4]

Exit status 1 when a broken image was found.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Read every image of a dataset split with its loading '
        'transform and list the broken ones.')
    parser.add_argument('config', help='a config naming the dataset')
    parser.add_argument('--split', '--phase', choices=['train', 'val',
                                                        'test'],
                        default='train', help='default: train')
    parser.add_argument('--out-path', default='brokenfiles.log',
                        help='list of broken images (path<TAB>reason); '
                        'removed when none is broken')
    parser.add_argument('--num-process', type=int, default=1,
                        help='worker processes (default 1)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    args = parser.parse_args(argv)
    if args.num_process < 1:
        parser.error('--num-process must be >= 1')
    return args


class Validator:
    """The split's loading transform applied to one sample at a time."""

    def __init__(self, cfg, split: str):
        import copy

        from mmengine.registry import init_default_scope

        from mmpretrain.registry import DATASETS, TRANSFORMS
        from ldr_mm.apis.dataset_labels import metadata_only
        init_default_scope(cfg.get('default_scope', 'mmpretrain'))
        loader = cfg.get(f'{split}_dataloader') or {}
        ds_cfg = copy.deepcopy(loader.get('dataset') or {})
        if not ds_cfg:
            raise SystemExit(f'The config has no {split}_dataloader.dataset')
        pipeline = ds_cfg.get('pipeline') or []
        loads = [t for t in pipeline if str(t.get('type', '')).startswith(
            'Load')]
        if not loads:
            raise SystemExit(
                f'The {split} pipeline has no Load* transform '
                f'({[t.get("type") for t in pipeline]}): nothing reads '
                'images from files')
        self.load_type = loads[0]['type']
        self.loader = TRANSFORMS.build(loads[0])
        self.dataset = DATASETS.build(metadata_only(ds_cfg, DATASETS))

    def __len__(self):
        return len(self.dataset)

    def check(self, idx: int):
        """None if sample ``idx`` loads, else (path, reason)."""
        info = self.dataset.get_data_info(idx)
        try:
            out = self.loader(dict(info))
        except Exception as e:  # any failure of the loader is a finding
            return str(info.get('img_path')), f'{type(e).__name__}: {e}'
        if out is None or out.get('img') is None:
            return str(info.get('img_path')), 'the loader returned no image'
        return None


def main(argv=None):
    args = parse_args(argv)
    from mmengine import track_parallel_progress, track_progress
    from mmengine.config import Config

    from ldr_mm.utils import atomic_write
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    v = Validator(cfg, args.split)
    print(f'Checking {len(v)} samples of the {args.split} split with '
          f'{v.load_type}')
    idx = list(range(len(v)))
    if args.num_process > 1:
        found = track_parallel_progress(v.check, idx, args.num_process)
    else:
        found = track_progress(v.check, idx)
    broken = [r for r in found if r is not None]
    if not broken:
        if osp.isfile(args.out_path):
            os.remove(args.out_path)
        print(f'\nAll {len(v)} samples of the {args.split} split load.')
        return broken
    with atomic_write(args.out_path) as f:
        f.writelines(f'{p}\t{why}\n' for p, why in broken)
    for p, why in broken[:10]:
        print(f'  {p}: {why}')
    print(f'\n{len(broken)} of {len(v)} samples cannot be read; list in '
          f'{args.out_path}')
    raise SystemExit(1)


if __name__ == '__main__':
    main()
