"""CLIP word embeddings of the LDRNet prompt, computed with open_clip.

Used only by ``tools/misc/extract_prompt_embeddings.py``; training reads the
cached result (:mod:`ldr_mm.prompts.cache`) and never imports open_clip.
"""
import os.path as osp
from typing import Optional, Tuple

import torch


def _text_tower(model):
    """Return the module holding the CLIP text transformer parts."""
    text = getattr(model, 'text', model)
    needed = ('token_embedding', 'positional_embedding', 'transformer',
              'ln_final')
    if not all(hasattr(text, n) for n in needed):
        raise ValueError(
            f'{type(model).__name__} has no CLIP-style text transformer '
            '(token_embedding, positional_embedding, transformer, ln_final); '
            'use an OpenAI-style open_clip model such as ViT-B-32 or RN50.')
    return text


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
            (``open_clip_pytorch_model.bin`` or ``.safetensors``) or an
            open_clip tag (needs hub access). ``None`` keeps the random
            initialisation: same code path, no semantics; for tests only.
        embedding_type (str): Which embedding of each token:

            - ``'token'`` (default, the paper's "word embedding"): the rows
              of CLIP's token-embedding table, no context.
            - ``'text'``: the text transformer's per-token outputs after the
              final LayerNorm (contextual; each token sees the tokens before
              it, CLIP's causal mask). Limited to the model's context length.
        device (str): Where to run CLIP. Defaults to ``'cpu'``.

    Returns:
        tuple: ``tokens`` LongTensor (M,) with the start token, the words and
        the end token (no padding), and ``embeddings`` FloatTensor (M, D').
    """
    import open_clip  # heavy import, kept local on purpose

    if embedding_type not in ('token', 'text'):
        raise ValueError(f"embedding_type must be 'token' or 'text', got "
                         f'{embedding_type!r}')
    if pretrained is not None and osp.splitext(pretrained)[1] and \
            not osp.isfile(pretrained):
        raise FileNotFoundError(f'CLIP weights file "{pretrained}" does not '
                                'exist')
    model = open_clip.create_model(
        model_name, pretrained=pretrained, device=device,
        require_pretrained=pretrained is not None)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    text = _text_tower(model)
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
        emb = text.token_embedding(tokens.to(device))
    else:
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
        emb = x[0, :length]
    return tokens.cpu(), emb.float().cpu()
