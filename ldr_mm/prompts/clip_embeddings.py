"""CLIP word embeddings of the LDRNet prompt, computed with open_clip.

Used only by ``tools/misc/extract_prompt_embeddings.py``; training reads the
cached result (:mod:`ldr_mm.prompts.cache`) and never imports open_clip.

Besides open_clip's built-in model names, a local *model directory* in the
layout of open_clip's hub repositories works offline: ``open_clip_config.json``
plus the weights (``open_clip_pytorch_model.bin`` / ``.safetensors``), e.g. a
downloaded BiomedCLIP (``hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_
patch16_224``). Its text tower may be a Hugging Face model (BiomedCLIP's
PubMedBERT): the tokenizer files must then be in the directory, and so must
the text model's ``config.json`` unless the Hugging Face cache has it.
"""
import json
import os.path as osp
from typing import Optional, Tuple

import torch

from .hf_embeddings import hf_token_embeddings, import_transformers

CLIP_DIR_CONFIG = 'open_clip_config.json'


def _text_tower(model):
    """Return the module holding the CLIP text transformer parts."""
    text = getattr(model, 'text', model)
    if hasattr(text, 'transformer') and hasattr(text.transformer,
                                                'get_input_embeddings'):
        return text  # open_clip's HFTextEncoder
    needed = ('token_embedding', 'positional_embedding', 'transformer',
              'ln_final')
    if not all(hasattr(text, n) for n in needed):
        raise ValueError(
            f'{type(model).__name__} has no CLIP-style text transformer '
            '(token_embedding, positional_embedding, transformer, ln_final) '
            'and no Hugging Face text tower; use an open_clip model such as '
            'ViT-B-32, RN50 or a BiomedCLIP-style directory.')
    return text


def _local_dir_kwargs(path: str) -> dict:
    """``create_model`` overrides for an open_clip model directory."""
    cfg_file = osp.join(path, CLIP_DIR_CONFIG)
    if not osp.isfile(cfg_file):
        raise FileNotFoundError(
            f'"{path}" is a directory but has no {CLIP_DIR_CONFIG}: an '
            'open_clip model directory holds open_clip_config.json and the '
            'weights (open_clip_pytorch_model.bin or .safetensors).')
    from open_clip.factory import _find_checkpoint_in_dir
    from pathlib import Path
    if _find_checkpoint_in_dir(Path(path)) is None:
        raise FileNotFoundError(
            f'open_clip model directory "{path}" holds no weights file '
            '(open_clip_pytorch_model.bin, open_clip_model.safetensors, ...).')
    with open(cfg_file, encoding='utf-8') as f:
        text_cfg = dict(json.load(f).get('model_cfg', {}).get('text_cfg', {}))
    if 'hf_model_name' not in text_cfg:
        return {}
    import_transformers()
    # The CLIP checkpoint holds the text weights: build the HF tower from
    # its config only, read from the directory when it is there.
    text_cfg['hf_model_pretrained'] = False
    if osp.isfile(osp.join(path, 'config.json')):
        text_cfg['hf_model_name'] = path
    return dict(text_cfg=text_cfg, pretrained_text=False)


#: Seed of the random CLIP weights of ``pretrained=None`` (``--weights none``).
RANDOM_CLIP_SEED = 0


def _create_clip(model_name: str, pretrained: Optional[str], device: str):
    """The open_clip model and tokenizer. Returns (model, tokenizer)."""
    import open_clip  # heavy import, kept local on purpose

    if pretrained is not None and osp.isdir(pretrained):
        name = 'local-dir:' + pretrained
        kwargs = _local_dir_kwargs(pretrained)
        try:
            model = open_clip.create_model(name, device=device, **kwargs)
        except OSError as e:
            raise FileNotFoundError(
                'Could not build the Hugging Face text tower of '
                f'"{pretrained}" ({e}). Copy the text model\'s config.json '
                'into that directory.') from e
        return model.eval(), open_clip.get_tokenizer(name)
    if pretrained is not None and osp.splitext(pretrained)[1] and \
            not osp.isfile(pretrained):
        raise FileNotFoundError(f'CLIP weights file "{pretrained}" does not '
                                'exist')
    # Random weights (tests, the demo) come from a fixed seed, so a prompt
    # cache made twice (e.g. by two fresh clones) is the same file content;
    # the caller's random stream is left as it was.
    try:
        with torch.random.fork_rng(devices=[]):
            if pretrained is None:
                torch.manual_seed(RANDOM_CLIP_SEED)
            model = open_clip.create_model(
                model_name, pretrained=pretrained, device=device,
                require_pretrained=pretrained is not None)
    except (RuntimeError, OSError) as e:
        if pretrained is None or osp.isfile(pretrained):
            raise
        # an open_clip tag: the weights come from the hub (offline: fails)
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise FileNotFoundError(
            f'Could not get the open_clip weights "{pretrained}" of '
            f'{model_name} ({reason}). Offline? Pass a local file instead: '
            '--weights PATH/TO/open_clip_pytorch_model.bin (or .safetensors, '
            'or an open_clip model folder); see docs/prompts.md.') from None
    return model.eval(), open_clip.get_tokenizer(model_name)


@torch.no_grad()
def extract_clip_word_embeddings(
        prompt: str,
        model_name: str = 'ViT-B-32',
        pretrained: Optional[str] = None,
        embedding_type: str = 'token',
        device: str = 'cpu') -> Tuple[torch.Tensor, torch.Tensor]:
    """Tokenise ``prompt`` with open_clip and return its word embeddings.

    Args:
        prompt (str): The sentence, e.g. ``'The Categories of the image are
            Atelectasis, Cardiomegaly.'``.
        model_name (str): open_clip model name. Defaults to ``'ViT-B-32'``.
        pretrained (str, optional): A local weights file
            (``open_clip_pytorch_model.bin`` or ``.safetensors``), a local
            open_clip model directory (``open_clip_config.json`` + weights;
            ``model_name`` is then ignored) or an open_clip tag (needs hub
            access). ``None`` keeps the random initialisation: same code
            path, no semantics; for tests only.
        embedding_type (str): Which embedding of each token:

            - ``'token'`` (default, the paper's "word embedding"): the rows
              of CLIP's token-embedding table, no context.
            - ``'text'``: the text transformer's per-token outputs after the
              final LayerNorm (contextual; each token sees the tokens before
              it, CLIP's causal mask; a Hugging Face tower's last hidden
              states). Limited to the model's context length.
        device (str): Where to run CLIP. Defaults to ``'cpu'``.

    Returns:
        tuple: ``tokens`` LongTensor (M,) with the start token, the words and
        the end token (no padding), and ``embeddings`` FloatTensor (M, D').
    """
    if embedding_type not in ('token', 'text'):
        raise ValueError(f"embedding_type must be 'token' or 'text', got "
                         f'{embedding_type!r}')
    model, tokenizer = _create_clip(model_name, pretrained, device)
    text = _text_tower(model)
    if hasattr(text.transformer, 'get_input_embeddings'):  # HF text tower
        ids = tokenizer.tokenizer(prompt)['input_ids']
        ids = torch.tensor(ids, dtype=torch.long)
        emb = hf_token_embeddings(text.transformer, ids.to(device),
                                  embedding_type, pretrained or model_name)
        return ids, emb
    return _clip_text_embeddings(text, tokenizer, prompt, model_name,
                                 embedding_type, device)


def _clip_text_embeddings(text, tokenizer, prompt, model_name,
                          embedding_type, device):
    """Token rows or causal-transformer outputs of an OpenAI-style tower."""
    ctx_len = text.positional_embedding.shape[0]
    # Tokenise without the context-length cut for the bare token embeddings;
    # the transformer outputs are limited to the model's context length.
    probe = tokenizer([prompt], context_length=4096)[0]
    eot = getattr(tokenizer, 'eot_token_id', None)
    nonpad = (probe != 0).nonzero().flatten()
    length = int(nonpad[-1]) + 1
    if eot is not None and int(probe[length - 1]) != eot:
        raise RuntimeError('open_clip tokeniser output has no end token')
    tokens = probe[:length].long()
    if embedding_type == 'token':
        return tokens.cpu(), text.token_embedding(
            tokens.to(device)).float().cpu()
    if length > ctx_len:
        raise ValueError(
            f'The prompt has {length} tokens, more than the '
            f'{ctx_len}-token context of {model_name}; use '
            "embedding_type='token' or shorter class names.")
    ids = torch.zeros(1, ctx_len, dtype=torch.long, device=device)
    ids[0, :length] = tokens
    cast = text.transformer.get_cast_dtype() if hasattr(
        text.transformer, 'get_cast_dtype') else torch.float32
    x = text.token_embedding(ids).to(cast)
    x = x + text.positional_embedding.to(cast)
    x = text.transformer(x, attn_mask=getattr(text, 'attn_mask', None))
    x = text.ln_final(x)
    return tokens.cpu(), x[0, :length].float().cpu()
