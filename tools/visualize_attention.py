"""Where does the model look for each finding? Label-query attention maps.

In LDRNet's encoder every class has its own label query; its attention over
the image tokens (last encoder layer, averaged over heads, summing to one
over the tokens) is a free localisation map. A baseline config
(configs/baselines: global average pooling + linear head) gets each class's
CAM instead (positive part, normalised to sum to one the same way), so the
two models' explanations can be compared side by side. For every image this
writes::

    <out-dir>/<name>.png           the image, then one overlay per class
                                   (caption: class and score)
    <out-dir>/<name>/<class>.png   each overlay alone (--per-class-files)

    python tools/visualize_attention.py CONFIG CHECKPOINT INPUT [INPUT ...] \\
        --out-dir work_dirs/attention [--classes predicted|all|NAME ...]
        [--thresholds thr.json | --thr 0.5]

By default the classes are the predicted ones (score >= threshold); an image
without any shows its top-1 class, marked "below thr". The maps are drawn
over the image as the model saw it (after the config's test pipeline), where
they are aligned; small images are upscaled for display (``--min-size``).
INPUT is as for tools/infer.py: images, folders or .txt lists.
"""
import argparse
import warnings

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Overlay each class\'s label-query attention map (LDRNet '
        'models) or CAM (baselines) on the image and save PNGs.')
    parser.add_argument('config', help='the config the model was trained '
                        'with')
    parser.add_argument('checkpoint', help='the checkpoint (.pth)')
    parser.add_argument('inputs', nargs='+',
                        help='image files, folders, or .txt lists of images')
    parser.add_argument('--out-dir', required=True,
                        help='where the PNGs go')
    parser.add_argument(
        '--classes', nargs='+', default=['predicted'],
        help='"predicted" (default: classes at or above their threshold), '
        '"all", or class names')
    thr = parser.add_mutually_exclusive_group()
    thr.add_argument('--thresholds',
                     help='per-class thresholds file (tools/misc/'
                     'choose_thresholds.py)')
    thr.add_argument('--thr', type=float,
                     help='one threshold for every class')
    parser.add_argument('--alpha', type=float, default=0.5,
                        help='heat-map opacity (default 0.5)')
    parser.add_argument('--min-size', type=int, default=192,
                        help='upscale images whose short side is smaller, '
                        'by an integer factor (default 192; 0: never)')
    parser.add_argument('--per-class-files', action='store_true',
                        help='also save each overlay alone as '
                        '<name>/<class>.png')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--device', default=None,
                        help='cpu, cuda or cuda:N (default: cuda if '
                        'available)')
    parser.add_argument('--recursive', action='store_true',
                        help='also read images in sub-folders')
    parser.add_argument('--no-progress', action='store_true')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    args = parser.parse_args(argv)
    if not 0.0 <= args.alpha <= 1.0:
        parser.error('--alpha must be in [0, 1]')
    if args.thr is not None and not 0.0 <= args.thr <= 1.0:
        parser.error('--thr must be in [0, 1]')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.apis import MultiLabelInferencer
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error

    with exit_on_checkpoint_error(args.checkpoint):
        inferencer = MultiLabelInferencer(
            args.config, args.checkpoint, device=args.device,
            thresholds=args.thresholds if args.thresholds else args.thr,
            cfg_options=args.cfg_options)
    classes = args.classes[0] if args.classes in (
        ['predicted'], ['all']) else args.classes
    with warnings.catch_warnings():
        warnings.simplefilter('always')
        results = inferencer(
            args.inputs, batch_size=args.batch_size, return_attention=True,
            show_dir=args.out_dir, alpha=args.alpha, min_size=args.min_size,
            attention_classes=classes,
            per_class_files=args.per_class_files,
            recursive=args.recursive, progress=not args.no_progress)
    print()
    for r in results:
        pos = ', '.join(f'{c} ({r["pred_scores"][i]:.3f})'
                        for i, c in zip(r['pred_label'], r['pred_class']))
        print(f'{r["name"]}: {pos or "no class above its threshold"}')
    print(f'Wrote {len(results.written)} PNG file(s) to {args.out_dir}; '
          f'{len(results)} image(s) read, {len(results.skipped)} '
          'unreadable skipped.')
    for path, why in results.skipped:
        print(f'  skipped {path}: {why}')
    if not results:
        raise SystemExit('No readable image among the inputs.')
    return dict(results=results, written=list(results.written),
                skipped=list(results.skipped))


if __name__ == '__main__':
    main()
