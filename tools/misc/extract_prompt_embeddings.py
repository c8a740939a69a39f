"""Write the prompt-embedding cache that LDRNeck reads.

Builds the prompt "The Categories of the image are {l1}, {l2}, ...." from
the dataset's class names, embeds it with a text encoder (``--encoder``:
``open_clip``, default, the paper's CLIP; ``transformers``, a local Hugging
Face model folder such as BlueBERT; ``word2vec``, a word2vec vectors file)
and stores the per-token embeddings (``--embedding token``: rows of the
encoder's token-embedding table, the paper's "word embedding", default;
``--embedding text``: per-token outputs of the text transformer) with the
encoder kind, the model name, the prompt and the class names. See
docs/prompts.md.

Examples::

    # classes and output path from a config (model.neck.prompt_cache)
    python tools/misc/extract_prompt_embeddings.py \
        configs/ldrnet/ldr_r50_nih_stage1.py \
        --weights ~/models/clip/ViT-B-32/open_clip_pytorch_model.bin

    # explicit classes; random CLIP weights (tests / demo only)
    python tools/misc/extract_prompt_embeddings.py --classes N D G \
        --out prompts.pth --weights none

    # the paper's Table 5 encoders (local files, no hub access)
    python tools/misc/extract_prompt_embeddings.py CONFIG \
        --encoder transformers --weights ~/models/bluebert_pubmed_mimic_base
    python tools/misc/extract_prompt_embeddings.py CONFIG \
        --encoder word2vec --weights ~/models/BioWordVec.bin
"""
import argparse



def classes_from_config(cfg):
    """Class names (and optional prompt names) of the config's train set;
    the dataset is built only if the config names no class list."""
    from ldr_mm.utils import config_metainfo
    meta = config_metainfo(cfg, splits=('train', ), build=True)
    return [str(c) for c in meta['classes']], meta.get('prompt_names')


def build_parser():
    from mmengine.config import DictAction

    from ldr_mm.prompts import PROMPT_ENCODERS

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
    parser.add_argument('--encoder', choices=sorted(PROMPT_ENCODERS),
                        default='open_clip', help='text encoder kind '
                        '(default: open_clip)')
    parser.add_argument('--model', default='ViT-B-32',
                        help='open_clip model name (for an open_clip model '
                        'folder only recorded, e.g. hf-hub:ORG/NAME; ignored '
                        'by the other encoders)')
    parser.add_argument(
        '--weights',
        required=True,
        help="open_clip: a local weights file, a local model folder "
        "(open_clip_config.json + weights, e.g. BiomedCLIP), a pretrained "
        "tag (needs hub access) or 'none' for random weights (tests only); "
        "transformers: a local model folder; word2vec: a vectors file "
        "(text or binary)")
    parser.add_argument('--embedding', choices=['token', 'text'],
                        default='token')
    parser.add_argument('--trust-remote-code', action='store_true',
                        help='transformers: allow the model folder\'s own '
                        'code (e.g. CXR-BERT-specialized)')
    parser.add_argument('--skip-unknown-template-words', action='store_true',
                        help='word2vec: leave out template words the '
                        'vocabulary lacks (class-name words stay required)')
    parser.add_argument('--template', default=None,
                        help='prompt template with {} for the class list')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides key=value')
    return parser


def classes_and_output(parser, args):
    """(class names, prompt names, output file) from the config and / or
    the arguments; a contradiction or a missing one exits with a usage
    error."""
    from ldr_mm.prompts import default_prompt_names
    out = args.out
    prompt_names = args.prompt_names
    if args.config:
        from mmengine.config import Config
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
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
    return classes, prompt_names, out


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    classes, prompt_names, out = classes_and_output(parser, args)

    from ldr_mm.prompts import (DEFAULT_TEMPLATE, build_prompt,
                                encode_prompt, save_prompt_cache)
    template = args.template or DEFAULT_TEMPLATE
    prompt = build_prompt(prompt_names, template)
    weights = None if args.weights.lower() == 'none' else args.weights
    try:
        res = encode_prompt(
            prompt_names, template, encoder=args.encoder, weights=weights,
            model=args.model, embedding_type=args.embedding,
            device=args.device, trust_remote_code=args.trust_remote_code,
            skip_unknown_template_words=args.skip_unknown_template_words)
    except (FileNotFoundError, ImportError, ValueError) as e:
        parser.exit(2, f'{parser.prog}: error: {e}\n')
    save_prompt_cache(
        out, classes=classes, prompt_names=prompt_names, template=template,
        prompt=prompt, model=res.model, pretrained=res.pretrained,
        embedding_type=args.embedding, tokens=res.tokens,
        embeddings=res.embeddings, encoder=args.encoder)
    for note in res.notes:
        print(f'Note: {note}')
    print(f'Wrote {out}: {res.tokens.numel()} tokens x '
          f'{res.embeddings.shape[1]} dims ({args.embedding} embeddings of '
          f'{args.encoder} {res.model}, weights: '
          f'{res.pretrained or "random (tests only)"})\nPrompt: {prompt}')


if __name__ == '__main__':
    main()
