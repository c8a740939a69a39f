"""Multi-label inference on images, a folder or a list of images.

Prints, per image, the positive classes (score >= the class's threshold) and
writes every class's score and decision to CSV and/or JSON::

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] \\
        [--out results.csv results.json] [--thresholds thr.json | --thr 0.5]
        [--batch-size 16] [--device cpu|cuda] [--show-dir vis/]

INPUT is an image file, a folder (its images, sorted; ``--recursive`` for
sub-folders) or a ``.txt`` file with one image path per line. An unreadable
image inside a folder or list is named in a warning, skipped and counted in
the summary; an unreadable image given by itself stops the tool with a
message naming it (exit status 1).

CSV columns: ``img_path``, ``score/<class>``..., ``pred/<class>``... (0/1),
``positives`` (the positive class names, ``;``-separated). The JSON file
holds the classes, the thresholds used, one record per image and the skipped
files. With a decision file that holds a calibration
(``tools/misc/choose_thresholds.py --calibration``), the scores are the
calibrated probabilities and the decisions are taken on them.
"""
import argparse
import csv
import io
import json
import warnings

from mmengine.config import DictAction  # noqa: E402

#: Ignored (non-image) files named one per line; the rest are counted.
MAX_IGNORED_SHOWN = 10


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Multi-label inference: per-class scores and the '
        'positive classes of each image at per-class thresholds.')
    parser.add_argument('config', help='the config the model was trained '
                        'with')
    parser.add_argument('checkpoint', help='the checkpoint (.pth)')
    parser.add_argument(
        'inputs', nargs='+',
        help='image files, folders, or .txt files listing images')
    parser.add_argument(
        '--out', nargs='+', default=[],
        help='write results to these files (.csv and/or .json)')
    thr = parser.add_mutually_exclusive_group()
    thr.add_argument(
        '--thresholds',
        help='per-class thresholds file from tools/misc/'
        'choose_thresholds.py (its classes must match the model)')
    thr.add_argument(
        '--thr', type=float,
        help='one threshold for every class (default: the head\'s thr, '
        '0.5)')
    parser.add_argument('--batch-size', type=int, default=8,
                        help='images per forward pass (default 8)')
    parser.add_argument(
        '--device', default=None,
        help='cpu, cuda or cuda:N (default: cuda if available, else cpu)')
    parser.add_argument('--recursive', action='store_true',
                        help='also read images in sub-folders of folders')
    parser.add_argument(
        '--ext', nargs='+', default=None,
        help='file endings counted as images in folders (default: .png '
        '.jpg .jpeg .bmp .tif .tiff .webp .pgm .ppm .pbm .dcm .dicom .nii '
        '.nii.gz); with .dcm or .dicom, files with the DICOM marker count '
        'whatever their name')
    parser.add_argument(
        '--show-dir',
        help='also save, per image, the attention map of each positive '
        'class over the image (LDRNet models)')
    parser.add_argument('--max-rows', type=int, default=30,
                        help='images printed in the on-screen table '
                        '(default 30; all go to --out)')
    parser.add_argument('--no-progress', action='store_true',
                        help='no progress bar')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings (key=value)')
    args = parser.parse_args(argv)
    for out in args.out:
        if not out.endswith(('.csv', '.json')):
            parser.error(f'--out must end with .csv or .json, got "{out}"')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    if args.thr is not None and not 0.0 <= args.thr <= 1.0:
        parser.error('--thr must be in [0, 1]')
    return args


def results_csv(results, classes) -> str:
    """The CSV text; scores as :func:`~ldr_mm.evaluation.metrics.dump.
    score_text` writes them for ``tools/test.py --out`` (they read back as
    the same float32, so ``score >= threshold`` decides as the run did)."""
    import numpy as np

    from ldr_mm.evaluation.metrics.dump import score_text
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(['img_path'] + [f'score/{c}' for c in classes] +
               [f'pred/{c}' for c in classes] + ['positives'])
    for r in results:
        pred = set(r['pred_label'])
        text = score_text(np.asarray(r['pred_scores']).reshape(1, -1))[0]
        w.writerow([r['name']] + text
                   + [int(i in pred) for i in range(len(classes))] +
                   [';'.join(r['pred_class'])])
    return buf.getvalue()


def _calibrated(path) -> bool:
    from ldr_mm.evaluation import load_decision_file
    return load_decision_file(path).calibration is not None


def results_json(results, classes, thresholds, args, skipped,
                 ignored) -> dict:
    return dict(
        config=args.config,
        checkpoint=args.checkpoint,
        classes=list(classes),
        thresholds=[float(t) for t in thresholds],
        threshold_source=args.thresholds or (
            f'--thr {args.thr}' if args.thr is not None else 'model head'),
        calibrated=bool(args.thresholds) and _calibrated(args.thresholds),
        results=[
            dict(img_path=r['name'],
                 scores={c: float(s) for c, s in zip(classes,
                                                      r['pred_scores'])},
                 positives=list(r['pred_class'])) for r in results
        ],
        skipped=[dict(img_path=p, reason=why) for p, why in skipped],
        ignored=list(ignored))


def screen_table(results, classes, max_rows) -> str:
    """Image | number of positives | positive classes (score)."""
    rows = []
    for r in results[:max_rows]:
        s = r['pred_scores']
        if r['pred_label']:
            pos = ', '.join(f'{classes[i]} ({s[i]:.3f})'
                            for i in r['pred_label'])
        else:
            top = int(s.argmax())
            pos = f'- (top: {classes[top]} {s[top]:.3f})'
        rows.append((r['name'], str(len(r['pred_label'])), pos))
    header = ('image', '#pos', 'positive classes (score)')
    w0 = max([len(header[0])] + [len(r[0]) for r in rows])
    w1 = len(header[1])
    lines = [f'{header[0]:<{w0}}  {header[1]}  {header[2]}',
             f'{"-" * w0}  {"-" * w1}  {"-" * len(header[2])}']
    lines += [f'{a:<{w0}}  {b:>{w1}}  {c}' for a, b, c in rows]
    if len(results) > max_rows:
        lines.append(f'... {len(results) - max_rows} more image(s) '
                     '(all are in --out)')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.apis import IMAGE_EXTENSIONS, MultiLabelInferencer
    from ldr_mm.utils import atomic_write
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error

    thresholds = args.thresholds if args.thresholds else args.thr
    with exit_on_checkpoint_error(args.checkpoint):
        inferencer = MultiLabelInferencer(
            args.config, args.checkpoint, device=args.device,
            thresholds=thresholds, cfg_options=args.cfg_options)
    classes = inferencer.classes
    with warnings.catch_warnings():
        warnings.simplefilter('always')  # every skipped file is named
        results = inferencer(
            args.inputs, batch_size=args.batch_size,
            show_dir=args.show_dir, recursive=args.recursive,
            extensions=tuple(args.ext) if args.ext else IMAGE_EXTENSIONS,
            progress=not args.no_progress)
    skipped, ignored = results.skipped, results.ignored

    print('\n' + screen_table(results, classes, args.max_rows))
    thr = inferencer.thresholds
    if args.thresholds:
        src = f'per class, from {args.thresholds}'
        cal = inferencer.decisions.calibration
        if cal is not None:
            src += ' (on scores calibrated by the file: ' + ', '.join(
                sorted({m['method'] for m in cal})) + ')'
    elif len(set(thr.tolist())) == 1:
        src = f'{thr[0]:g} for every class'
    else:
        src = 'per class, from the model head'
    print(f'\nThresholds: {src}')
    counts = [sum(i in r['pred_label'] for r in results)
              for i in range(len(classes))]
    print('Positives per class: ' + ', '.join(
        f'{c} {n}' for c, n in zip(classes, counts)))
    for out in args.out:
        if out.endswith('.csv'):
            with atomic_write(out, newline='') as f:
                f.write(results_csv(results, classes))
        else:
            with atomic_write(out) as f:
                json.dump(results_json(results, classes, thr, args, skipped,
                                       ignored), f, indent=1)
        print(f'Wrote {out}')
    if args.show_dir and results:
        print(f'Attention maps in {args.show_dir}')
    summary = f'Summary: {len(results)} image(s) read, {len(skipped)} ' \
              'unreadable skipped'
    if ignored:
        summary += f', {len(ignored)} non-image file(s) ignored'
    print(summary + '.')
    for path, why in skipped:
        print(f'  skipped {path}: {why}')
    for path in ignored[:MAX_IGNORED_SHOWN]:
        print(f'  ignored {path}: not an image extension (--ext adds one)')
    if len(ignored) > MAX_IGNORED_SHOWN:
        print(f'  ... {len(ignored) - MAX_IGNORED_SHOWN} more ignored file(s) '
              '(all are in a --out .json)')
    if not results:
        raise SystemExit('No readable image among the inputs.')
    return dict(results=results, skipped=skipped, ignored=ignored,
                classes=classes, thresholds=thr)


def cli(argv=None):
    """The command line: an input or settings error (an unreadable image
    given by itself, a missing path, a thresholds file for other classes, a
    checkpoint from another config) exits with its message and status 1,
    not a traceback."""
    from ldr_mm.apis import CheckpointMismatchError, UnreadableImageError
    from ldr_mm.evaluation import ThresholdFileError
    try:
        return main(argv)
    except (UnreadableImageError, FileNotFoundError, ThresholdFileError,
            CheckpointMismatchError) as e:
        raise SystemExit(f'Error: {e}') from None


if __name__ == '__main__':
    cli()
