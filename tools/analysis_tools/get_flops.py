"""FLOPs and parameters of a model built from a config (MMPretrain's
``get_flops.py`` for the LDR models).

    python tools/analysis_tools/get_flops.py CONFIG    # e.g. ldr_r50_nih_stage1
    python tools/analysis_tools/get_flops.py CONFIG --shape 448 --batch 2 \\
        --mode train            # forward + backward of the loss

Counts with ``torch.utils.flop_counter`` through
:func:`ldr_mm.utils.flops.count_flops` (which also counts the CPU attention
kernel and the Transformer layers' fused fast path that torch's counter
misses): one multiply-add = 2 FLOPs, unlike MMPretrain's tool (fvcore-style
multiply-adds). The input size defaults to the test pipeline's crop (else
resize) size. Per-module totals (backbone, neck, head) are printed.
"""
import argparse

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='FLOPs (torch.utils.flop_counter) and parameters of a '
        'model built from a config')
    parser.add_argument('config', help='config file')
    parser.add_argument('--checkpoint', help='optional: build with these '
                        'weights (also gives the prompt embeddings when the '
                        'prompt-cache file is not there)')
    parser.add_argument('--shape', type=int, nargs='+',
                        help='input size: H or H W (default: the test '
                        'pipeline\'s crop / resize size)')
    parser.add_argument('--batch', type=int, default=1, help='default 1')
    parser.add_argument('--mode', choices=['inference', 'train'],
                        default='inference',
                        help='inference: the forward pass to the logits; '
                        'train: forward + backward of the loss')
    parser.add_argument('--depth', type=int, default=2,
                        help='module depth of the breakdown (default 2: '
                        'the model and backbone / neck / head)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (key=value)')
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error('--shape takes H or H W')
    if args.batch < 1:
        parser.error('--batch must be >= 1')
    return args


def pipeline_size(cfg):
    """(H, W) of the test (else val) pipeline's crop, else resize, else
    224 x 224."""
    from ldr_mm.deployment import pipeline_input_size
    return pipeline_input_size(cfg) or (224, 224)


def build(cfg, checkpoint):
    if checkpoint:
        from ldr_mm.apis import init_multilabel_model
        return init_multilabel_model(cfg, checkpoint, device='cpu')
    from mmpretrain.apis import get_model
    return get_model(cfg, pretrained=False, device='cpu')


def main(argv=None):
    args = parse_args(argv)
    import torch
    from mmengine.config import Config

    from ldr_mm.evaluation.report import format_table
    from ldr_mm.utils.flops import count_flops
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    h, w = (args.shape * 2)[:2] if args.shape else pipeline_size(cfg)
    from ldr_mm.utils.checkpoint import exit_on_checkpoint_error
    with exit_on_checkpoint_error(args.checkpoint):
        model = build(cfg, args.checkpoint)
    x = torch.randn(args.batch, 3, h, w)
    if args.mode == 'inference':
        model.eval()

        def run():
            with torch.no_grad():
                model(x, mode='tensor')
    else:
        from mmpretrain.structures import DataSample
        model.train()
        num_classes = model.head.num_classes
        samples = [DataSample().set_gt_label([i % num_classes])
                   for i in range(args.batch)]
        # a loss that needs the training set's class frequencies (DB loss,
        # ClassFrequencyHook in training): FLOPs do not depend on their
        # values, so uniform ones stand in without reading the dataset
        for m in model.modules():
            if callable(getattr(m, 'set_class_frequencies', None)) and \
                    not getattr(m, 'has_class_frequencies', False):
                m.set_class_frequencies([1] * num_classes, 2,
                                        source='get_flops placeholder')

        def run():
            losses = model.loss(x, samples)
            sum(v for k, v in losses.items() if 'loss' in k).backward()
    total, per_module = count_flops(run, depth=args.depth)
    if args.mode == 'train':
        # torch attributes backward FLOPs to modules unreliably: the
        # breakdown is of the forward pass (train mode), the total of both
        _, per_module = count_flops(model, x, mode='tensor',
                                    depth=args.depth)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    rows = [[name, per_module[name] / 1e9, per_module[name] / max(total, 1)]
            for name in sorted(per_module)
            if name != 'Global' and name.count('.') < args.depth]
    share = 'share' if args.mode == 'inference' else 'share of total'
    if args.mode == 'train':
        print('Forward pass per module (train mode):')
    print(format_table(['module', 'GFLOPs', share], rows))
    what = 'forward' if args.mode == 'inference' else 'forward + backward'
    print(f'\nInput: {args.batch} x 3 x {h} x {w} ({what})\n'
          f'FLOPs: {total / 1e9:.3f} G (a multiply-add counts 2)\n'
          f'Params: {params / 1e6:.3f} M ({trainable / 1e6:.3f} M '
          'trainable)')
    return dict(flops=total, per_module=per_module, params=params,
                shape=(h, w))


if __name__ == '__main__':
    main()
