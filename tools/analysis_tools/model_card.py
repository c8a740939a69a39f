"""Write a one-page markdown model card after ``tools/test.py``.

    python tools/test.py CONFIG CHECKPOINT --thresholds thr.json \\
        --metrics-out report.json
    python tools/analysis_tools/model_card.py CONFIG CHECKPOINT report.json \\
        --out card.md [--cfg-options ...]

The card (``ldr_mm.evaluation.model_card``): intended use, data source and
per-class positives of each split, the training recipe (stage 1 / 2, seed,
versions), per-class AUC / AP with their bootstrap intervals and
sensitivity / specificity / PPV / NPV at the report's thresholds, the
report's calibration measures, head / tail groups and the known limits.
Its numbers are the report's (nothing is re-evaluated).
"""
import argparse
import json
import warnings

from mmengine.config import Config, DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write a markdown model card from a config, its '
        'checkpoint and a tools/test.py --metrics-out report')
    parser.add_argument('config', help='the config tools/test.py ran')
    parser.add_argument('checkpoint', help='the checkpoint it evaluated')
    parser.add_argument('report', help='tools/test.py --metrics-out FILE')
    parser.add_argument('--out', required=True, help='the card (.md)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config (key=value)')
    return parser.parse_args(argv)


def read_report(path: str, classes) -> dict:
    """The report JSON; its classes must be the config's."""
    try:
        with open(path, encoding='utf-8') as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise SystemExit(f'model card: cannot read report "{path}": {e}')
    if not isinstance(report, dict) or 'metrics' not in report or \
            'classes' not in report:
        raise SystemExit(f'model card: "{path}" is not a tools/test.py '
                         '--metrics-out file (no "metrics" / "classes")')
    if classes and list(report['classes']) != list(classes):
        raise SystemExit(
            f'model card: report "{path}" is for the classes '
            f'{report["classes"]}, the config for {list(classes)}; use the '
            'report of this config')
    return report


def split_counts(cfg) -> dict:
    """``{split: (images, per-class positives) or None}``."""
    from ldr_mm.apis.dataset_labels import split_labels
    out = {}
    for split in ('train', 'val', 'test'):
        if not (cfg.get(f'{split}_dataloader') or {}).get('dataset'):
            continue
        try:
            sl = split_labels(cfg, split)
        except Exception as e:  # data not on this machine: said in the card
            warnings.warn(f'{split} split labels not readable: {e}')
            out[split] = None
            continue
        out[split] = (int(sl.labels.shape[0]), sl.counts.tolist())
    return out


def random_prompts(cfg):
    """True / False: the prompt cache has random / real encoder weights;
    None when the config has no prompts or the cache is not here."""
    neck = cfg.model.get('neck') or {}
    path = neck.get('prompt_cache') if isinstance(neck, dict) else None
    if not path or not neck.get('use_prompt', True):
        return None
    from ldr_mm.prompts import load_prompt_cache
    try:
        return load_prompt_cache(path).get('pretrained') is None
    except Exception:  # missing cache: unknown
        return None


def main(argv=None):
    args = parse_args(argv)
    import ldr_mm  # noqa: F401  (registers the datasets)
    from ldr_mm.evaluation.model_card import CardInputs, model_card
    from ldr_mm.utils import atomic_write, config_metainfo
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error
    from ldr_mm.utils.checkpoint_meta import checkpoint_summary
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    meta = config_metainfo(cfg)
    report = read_report(args.report, meta.get('classes'))
    with exit_on_checkpoint_error(args.checkpoint):
        ckpt = checkpoint_summary(args.checkpoint)
    head = report.get('head_classes') or meta.get('head_classes') or []
    tail = report.get('tail_classes') or meta.get('tail_classes') or []
    card = model_card(CardInputs(
        args.config, cfg, report, ckpt, split_counts(cfg), head, tail,
        random_prompts(cfg)))
    with atomic_write(args.out) as f:
        f.write(card)
    print(f'Wrote the model card {args.out}')
    return card


if __name__ == '__main__':
    main()
