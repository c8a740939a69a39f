"""Browse a multi-label dataset: each sample's image with its label names,
as loaded and as the pipeline feeds it to the model (MMPretrain's
``browse_dataset.py`` for multi-label data).

    python tools/analysis_tools/browse_dataset.py CONFIG --split train \\
        --output-dir work_dirs/browse --num 20 [--mode concat]
        [--classes Hernia Pneumonia]

``--mode original``: the image as the pipeline's ``Load*`` transform reads
it; ``transformed``: the pipeline's output (the model input, after resizing,
cropping, flipping ...); ``concat`` (default): both side by side. One PNG
per sample, named after the image; the label names are printed below the
image, coloured by head / tail group. ``--classes`` keeps the samples with
at least one of those classes.
"""
import argparse
import os.path as osp

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Save dataset samples with their label names: the '
        'loaded image and the pipeline output.')
    parser.add_argument('config', help='a config naming the dataset')
    parser.add_argument('--split', '--phase', choices=['train', 'val',
                                                        'test'],
                        default='train', help='default: train')
    parser.add_argument('--output-dir', default='work_dirs/browse',
                        help='where the PNGs go')
    parser.add_argument('--num', '--show-number', type=int, default=10,
                        help='samples to save (default 10)')
    parser.add_argument('--mode', choices=['original', 'transformed',
                                           'concat'], default='concat')
    parser.add_argument('--classes', nargs='+',
                        help='only samples with one of these classes')
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error('--num must be >= 1')
    return args


def build(cfg, split):
    """(dataset with its pipeline, the pipeline's loading transform)."""
    import copy

    from mmengine.registry import init_default_scope

    from mmpretrain.registry import DATASETS, TRANSFORMS
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = copy.deepcopy((cfg.get(f'{split}_dataloader') or {}).get(
        'dataset'))
    if not ds_cfg:
        raise SystemExit(f'The config has no {split}_dataloader.dataset')
    loads = [t for t in ds_cfg.get('pipeline') or []
             if str(t.get('type', '')).startswith('Load')]
    loader = TRANSFORMS.build(loads[0]) if loads else None
    return DATASETS.build(ds_cfg), loader


def select(dataset, classes, wanted, num):
    """Indices of the first ``num`` samples with one of ``wanted``."""
    if not wanted:
        return list(range(min(num, len(dataset))))
    unknown = [c for c in wanted if c not in classes]
    if unknown:
        raise SystemExit(f'--classes {unknown} are not dataset classes '
                         f'{list(classes)}')
    ids = {classes.index(c) for c in wanted}
    out = [i for i in range(len(dataset))
           if ids & set(dataset.get_cat_ids(i))]
    return out[:num]


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    from mmengine.utils import ProgressBar

    from ldr_mm.visualization.sample_plot import plot_sample
    from ldr_mm.utils import safe_file_name
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    dataset, loader = build(cfg, args.split)
    meta = dataset.metainfo
    classes = [str(c) for c in meta['classes']]
    head = list(meta.get('head_classes') or [])
    tail = list(meta.get('tail_classes') or [])
    if args.mode != 'transformed' and loader is None:
        raise SystemExit('The pipeline has no Load* transform: use --mode '
                         'transformed')
    written = []
    indices = select(dataset, classes, args.classes, args.num)
    bar = ProgressBar(len(indices))
    for i in indices:
        info = dataset.get_data_info(i)
        panels = []
        if args.mode in ('original', 'concat'):
            panels.append(('loaded', loader(dict(info))['img']))
        if args.mode in ('transformed', 'concat'):
            panels.append(('model input', dataset[i]['inputs']))
        path = info.get('img_path')
        path = path[0] if isinstance(path, (list, tuple)) else path
        name = safe_file_name(osp.splitext(osp.basename(str(path)))[0])
        labels = [classes[c] for c in dataset.get_cat_ids(i)]
        note = f"patient {info['patient_id']}" if 'patient_id' in info \
            else None
        written.append(plot_sample(
            panels, labels, head, tail, f'{args.split} #{i}: {path}',
            osp.join(args.output_dir, f'{i:06d}_{name}.png'), args.dpi,
            note=note))
        bar.update()
    print(f'\nWrote {len(written)} picture(s) to {args.output_dir}')
    return written


if __name__ == '__main__':
    main()
