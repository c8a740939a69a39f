"""One interface to every text encoder that can embed the LDRNet prompt.

``encode_prompt(prompt_names, template, encoder=KIND, weights=...)`` returns
the prompt's per-token embeddings (M, D') for the cache that
:class:`~ldr_mm.models.LDRNeck` reads; the neck's MLP maps any D' to its
width D. The kinds, in ``PROMPT_ENCODERS``:

==================  ==========================================  ============
kind                ``weights``                                 needs
==================  ==========================================  ============
``'open_clip'``     a weights file, an open_clip model folder   open_clip
                    (``open_clip_config.json`` + weights, e.g.  (+ transfor-
                    BiomedCLIP), an open_clip tag, or ``None``  mers for HF
                    (random weights, tests only)                text towers)
``'transformers'``  a local ``transformers`` model folder       transformers
                    (BlueBERT, BiomedBERT, CXR-BERT, ...)
``'word2vec'``      a word2vec text or binary file              nothing
==================  ==========================================  ============

These are the paper's Table 5 rows: CLIP, BlueBERT and Word2vector.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import torch

from .cache import build_prompt
from .clip_embeddings import extract_clip_word_embeddings
from .hf_embeddings import extract_hf_word_embeddings
from .word2vec import extract_word2vec_embeddings

PROMPT_ENCODERS: Dict[str, Callable[..., 'PromptEmbedding']] = {}


@dataclass
class PromptEmbedding:
    """What an encoder returns: the cache's ``tokens`` and ``embeddings``.

    Attributes:
        tokens (Tensor): (M,) token ids (encoder-specific).
        embeddings (Tensor): (M, D') float32, one row per token.
        model (str): The model name recorded in the cache.
        pretrained (str, optional): The weights used; ``None``: random.
        notes (list[str]): Things the user should know (printed by the tool).
    """
    tokens: torch.Tensor
    embeddings: torch.Tensor
    model: str
    pretrained: Optional[str]
    notes: List[str] = field(default_factory=list)


def register_prompt_encoder(kind: str):
    """Decorator adding an encoder function to ``PROMPT_ENCODERS``."""

    def wrap(fn):
        PROMPT_ENCODERS[kind] = fn
        return fn

    return wrap


def _local_name(path: str) -> str:
    return osp.basename(osp.normpath(path))


def _need_weights(kind: str, weights: Optional[str], what: str) -> str:
    if weights is None:
        raise ValueError(
            f"The '{kind}' encoder has no random initialisation: pass "
            f'--weights with {what}.')
    return weights


@register_prompt_encoder('open_clip')
def _open_clip(prompt_names, template, weights, model, embedding_type,
               device, **_):
    tokens, emb = extract_clip_word_embeddings(
        build_prompt(prompt_names, template), model_name=model,
        pretrained=weights, embedding_type=embedding_type, device=device)
    name = model
    if weights and osp.isdir(weights) and not model.startswith('hf-hub:'):
        name = _local_name(weights)  # the folder names the model
    return PromptEmbedding(tokens, emb, name, weights)


@register_prompt_encoder('transformers')
def _transformers(prompt_names, template, weights, model, embedding_type,
                  device, trust_remote_code=False, **_):
    path = _need_weights('transformers', weights,
                         'a local transformers model folder')
    tokens, emb = extract_hf_word_embeddings(
        build_prompt(prompt_names, template), path,
        embedding_type=embedding_type, device=device,
        trust_remote_code=trust_remote_code)
    return PromptEmbedding(tokens, emb, _local_name(path), path)


@register_prompt_encoder('word2vec')
def _word2vec(prompt_names, template, weights, model, embedding_type,
              device, skip_unknown_template_words=False, **_):
    path = _need_weights('word2vec', weights, 'a word2vec file')
    if embedding_type != 'token':
        raise ValueError(
            "word2vec vectors have no context: use --embedding token (got "
            f'{embedding_type!r}).')
    tokens, emb, skipped = extract_word2vec_embeddings(
        prompt_names, template, path,
        skip_unknown_template_words=skip_unknown_template_words)
    notes = [f'template words not in the vocabulary, left out: {skipped}'
             ] if skipped else []
    return PromptEmbedding(tokens, emb, _local_name(path), path, notes)


def encode_prompt(prompt_names: Sequence[str],
                  template: str,
                  encoder: str = 'open_clip',
                  weights: Optional[str] = None,
                  model: str = 'ViT-B-32',
                  embedding_type: str = 'token',
                  device: str = 'cpu',
                  **options) -> PromptEmbedding:
    """Embed the prompt built from ``prompt_names`` with one encoder.

    Args:
        prompt_names (Sequence[str]): The class names as written in the
            prompt.
        template (str): The prompt template with ``{}`` for the class list.
        encoder (str): A kind of ``PROMPT_ENCODERS`` (see the module
            docstring). Defaults to ``'open_clip'``.
        weights (str, optional): The encoder's local weights (file or
            folder) or, for open_clip, a tag; ``None``: random open_clip.
        model (str): The open_clip model name (other kinds ignore it). With
            an open_clip model folder as ``weights`` the folder defines the
            model; a hub name given here (``'hf-hub:org/name'``, e.g.
            BiomedCLIP's) is then only recorded in the cache, nothing is
            downloaded.
        embedding_type (str): ``'token'`` (rows of the embedding table, the
            paper's "word embedding") or ``'text'`` (contextual outputs).
        device (str): Where to run the encoder.
        **options: Kind-specific options: ``trust_remote_code``
            (transformers), ``skip_unknown_template_words`` (word2vec).

    Returns:
        PromptEmbedding: tokens (M,), embeddings (M, D') and provenance.
    """
    if encoder not in PROMPT_ENCODERS:
        raise ValueError(f'Unknown prompt encoder {encoder!r}; choose one of '
                         f'{sorted(PROMPT_ENCODERS)}.')
    if embedding_type not in ('token', 'text'):
        raise ValueError(f"embedding_type must be 'token' or 'text', got "
                         f'{embedding_type!r}')
    return PROMPT_ENCODERS[encoder](
        prompt_names, template, weights=weights, model=model,
        embedding_type=embedding_type, device=device, **options)
