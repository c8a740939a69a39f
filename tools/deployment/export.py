"""Export a checkpoint as a model of per-class probabilities.

    python tools/deployment/export.py CONFIG CHECKPOINT --format onnx \\
        --out model.onnx [--decision-file thresholds.json] [--shape H W] \\
        [--cfg-options KEY=VALUE ...]

The exported model takes a normalised image batch (B, 3, H, W), B dynamic,
and returns (B, C) probabilities: the sigmoid of the logits, or the
per-class calibration (temperature, Platt, isotonic) of ``--decision-file``
when it has one. The
sidecar ``OUT.json`` holds the preprocessing (colour order, mean, std,
loading steps, input size), the class names, the thresholds, the
calibration, the checkpoint's provenance and the package versions. After
writing, the file is run (onnxruntime / torch.jit) on random batches of 1
and 3 and compared with PyTorch; see docs/deployment.md.
"""
import argparse
import sys

from mmengine.config import DictAction

#: The largest accepted |exported - PyTorch| probability.
TOLERANCE = 1e-4


def parse_args(argv=None):
    from ldr_mm.deployment import EXPORTERS
    parser = argparse.ArgumentParser(
        description='Export a checkpoint (ONNX / TorchScript) as a model of '
        'per-class probabilities, with a JSON sidecar (OUT.json)')
    parser.add_argument('config', help='the training config')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument('--format', choices=sorted(EXPORTERS),
                        default='onnx', help='default: onnx')
    parser.add_argument('--out', required=True,
                        help='the model file (e.g. model.onnx, model.pt)')
    parser.add_argument(
        '--decision-file',
        help='decision file of tools/misc/choose_thresholds.py (thresholds, '
        'optionally a calibration, which the graph applies)')
    parser.add_argument(
        '--shape', type=int, nargs='+',
        help='input H [W] (default: the test pipeline\'s crop / resize)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config (key=value)')
    args = parser.parse_args(argv)
    if args.shape is not None and (len(args.shape) not in (1, 2)
                                   or min(args.shape) < 1):
        parser.error('--shape takes H or H W (positive)')
    return args


def main(argv=None):
    args = parse_args(argv)
    from ldr_mm.evaluation.thresholds import ThresholdFileError
    from ldr_mm.deployment import export_model
    from ldr_mm.utils import CheckpointMismatchError
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error
    shape = (args.shape * 2)[:2] if args.shape else None
    try:
        with exit_on_checkpoint_error(args.checkpoint):
            info = export_model(args.config, args.checkpoint, args.format,
                                args.out, args.decision_file, shape,
                                args.cfg_options)
    except (ThresholdFileError, CheckpointMismatchError, ValueError,
            FileNotFoundError, ImportError) as e:
        raise SystemExit(f'export: {e}') from None
    diff = info['check']['max_abs_diff']
    print(f'Wrote {args.out} ({args.format}) and {args.out}.json: input '
          f'(batch, 3, {info["input"]["shape"][2]}, '
          f'{info["input"]["shape"][3]}) {info["input"]["channel_order"]}, '
          f'{len(info["classes"])} class probabilities, '
          f'{"calibrated" if info["calibration"]["maps"] else "uncalibrated"}'
          f'; max |{args.format} - PyTorch| '
          f'on random batches of 1 and 3: {diff:.2e}')
    if diff > TOLERANCE:
        sys.exit(f'export: the exported model differs from PyTorch by '
                 f'{diff:.2e} > {TOLERANCE:g}; do not use {args.out}')
    return info


if __name__ == '__main__':
    main()
