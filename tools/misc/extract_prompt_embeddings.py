"""Write the CLIP prompt-embedding cache that LDRNeck reads.

Builds the prompt "The Categories of the image are {l1}, {l2}, ...." from
the dataset's class names, tokenises it with open_clip and stores the CLIP
word embeddings (``--embedding token``: rows of CLIP's token-embedding table,
the paper's "word embedding", default; ``--embedding text``: per-token outputs
of the text transformer) with the model name, the prompt and the class names.

Examples::

    # classes and output path from a config (model.neck.prompt_cache)
    python tools/misc/extract_prompt_embeddings.py \
        configs/ldrnet/ldr_r50_nih_stage1.py \
        --weights ~/models/clip/ViT-B-32/open_clip_pytorch_model.bin

    # explicit classes; random CLIP weights (tests / demo only)
    python tools/misc/extract_prompt_embeddings.py --classes N D G \
        --out prompts.pth --weights none
"""
import argparse



def classes_from_config(cfg):
    """Class names (and optional prompt names) of the config's train set."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import DATASETS
    import ldr_mm  # noqa: F401  (registers the datasets)

    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    ds_cfg = cfg.train_dataloader.dataset
    while 'dataset' in ds_cfg and 'type' in ds_cfg and ds_cfg.type in (
            'RepeatDataset', 'ClassBalancedDataset'):
        ds_cfg = ds_cfg.dataset
    meta = dict(ds_cfg.get('metainfo') or {})
    if ds_cfg.get('classes'):
        meta['classes'] = ds_cfg['classes']
    if not meta.get('classes'):
        cls = DATASETS.get(ds_cfg.type)
        meta = {**dict(getattr(cls, 'METAINFO', {}) or {}), **meta}
    if not meta.get('classes'):
        dataset = DATASETS.build(ds_cfg)  # classes only known from the data
        meta = dataset.metainfo
    return list(meta['classes']), meta.get('prompt_names')


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', nargs='?', help='config to read classes '
                        'and model.neck.prompt_cache from')
    parser.add_argument('--classes', nargs='+', help='class names, in order')
    parser.add_argument(
        '--prompt-names',
        nargs='+',
        help='words for the classes in the prompt (default: the class '
        "names with '_' -> ' ', or the dataset's metainfo prompt_names)")
    parser.add_argument('--out', help='output file (default: the config\'s '
                        'model.neck.prompt_cache)')
    parser.add_argument('--model', default='ViT-B-32',
                        help='open_clip model name')
    parser.add_argument(
        '--weights',
        required=True,
        help="local CLIP weights file, an open_clip pretrained tag (needs "
        "hub access), or 'none' for random weights (tests only)")
    parser.add_argument('--embedding', choices=['token', 'text'],
                        default='token')
    parser.add_argument('--template', default=None,
                        help='prompt template with {} for the class list')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', default=None,
                        help='config overrides key=value')
    args = parser.parse_args(argv)

    from ldr_mm.prompts import (DEFAULT_TEMPLATE, build_prompt,
                                default_prompt_names,
                                extract_clip_word_embeddings,
                                save_prompt_cache)

    out = args.out
    prompt_names = args.prompt_names
    if args.config:
        from mmengine.config import Config, DictAction
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            opts = DictAction()
            ns = argparse.Namespace()
            opts(parser, ns, args.cfg_options)
            cfg.merge_from_dict(ns.__dict__[opts.dest])
        classes, meta_names = classes_from_config(cfg)
        if args.classes and list(args.classes) != classes:
            parser.error(f'--classes {args.classes} differ from the config\'s '
                         f'dataset classes {classes}')
        prompt_names = prompt_names or meta_names
        out = out or cfg.model.get('neck', {}).get('prompt_cache')
    elif args.classes:
        classes = list(args.classes)
    else:
        parser.error('give a CONFIG or --classes')
    if not out:
        parser.error('give --out (the config has no model.neck.prompt_cache)')
    prompt_names = list(prompt_names or default_prompt_names(classes))
    if len(prompt_names) != len(classes):
        parser.error(f'{len(prompt_names)} prompt names for {len(classes)} '
                     'classes')
    template = args.template or DEFAULT_TEMPLATE
    prompt = build_prompt(prompt_names, template)
    weights = None if args.weights.lower() == 'none' else args.weights
    tokens, emb = extract_clip_word_embeddings(
        prompt, model_name=args.model, pretrained=weights,
        embedding_type=args.embedding, device=args.device)
    save_prompt_cache(
        out, classes=classes, prompt_names=prompt_names, template=template,
        prompt=prompt, model=args.model, pretrained=weights,
        embedding_type=args.embedding, tokens=tokens, embeddings=emb)
    print(f'Wrote {out}: {tokens.numel()} tokens x {emb.shape[1]} dims '
          f'({args.embedding} embeddings of {args.model}, weights: '
          f'{weights or "random (tests only)"})\nPrompt: {prompt}')


if __name__ == '__main__':
    main()
