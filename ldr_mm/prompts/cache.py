"""The prompt-embedding cache file read by :class:`~ldr_mm.models.LDRNeck`.

LDRNet builds its prompt query from CLIP word embeddings of the sentence
``"The Categories of the image are {l1}, {l2}, ..."``. Those embeddings are
fixed, so they are computed once by
``tools/misc/extract_prompt_embeddings.py`` (with CLIP or another encoder of
:mod:`ldr_mm.prompts.encoders`) and stored in a small file; training and
inference never need the encoder (or its weights) at run time.

File format (a ``torch.save`` dict readable with ``weights_only=True``):

======================  ====================================================
key                     value
======================  ====================================================
``format_version``      ``int``, currently 1
``classes``             ``list[str]``, the dataset class names, in order
``prompt_names``        ``list[str]``, the words used for them in the prompt
``template``            ``str``, e.g. ``'The Categories of the image are {}.'``
``prompt``              ``str``, the full sentence that was tokenised
``encoder``             ``str``, the encoder kind: ``'open_clip'``,
                        ``'transformers'`` or ``'word2vec'``. Optional:
                        caches written before it existed are open_clip
                        ones, and load with ``'open_clip'``.
``model``               ``str``, the model name (``'ViT-B-32'``, or the
                        model folder's / vectors file's name)
``pretrained``          ``str`` or ``None``: the weights (tag, file or
                        folder); ``None``: random CLIP weights
``embedding_type``      ``'token'`` or ``'text'`` (see
                        :func:`~ldr_mm.prompts.extract_clip_word_embeddings`)
``tokens``              ``LongTensor (M,)``: the encoder's token ids (start,
                        words, end for CLIP / BERT; for word2vec the rows
                        of the vectors file, -1 for an averaged class name)
``embeddings``          ``FloatTensor (M, D')``: one row per token
======================  ====================================================
"""
import os.path as osp
import shlex
from typing import List, Optional, Sequence

import torch

from ldr_mm.utils.classes import class_difference
from ldr_mm.utils.fileio import atomic_torch_save

DEFAULT_TEMPLATE = 'The Categories of the image are {}.'
FORMAT_VERSION = 1
#: encoder of caches without an ``encoder`` key (all written before it)
LEGACY_ENCODER = 'open_clip'
_REQUIRED_KEYS = ('format_version', 'classes', 'prompt_names', 'template',
                  'prompt', 'model', 'pretrained', 'embedding_type', 'tokens',
                  'embeddings')


class PromptCacheError(RuntimeError):
    """A prompt cache is missing, unreadable or made for other classes."""


def default_prompt_names(classes: Sequence[str]) -> List[str]:
    """Words for ``classes`` in the prompt: underscores become spaces.

    ``'Pleural_Thickening'`` -> ``'Pleural Thickening'``.
    """
    return [str(c).replace('_', ' ').strip() for c in classes]


def build_prompt(prompt_names: Sequence[str],
                 template: str = DEFAULT_TEMPLATE) -> str:
    """Fill ``template`` with the comma-separated ``prompt_names``."""
    if '{}' not in template:
        raise ValueError(f'The prompt template must contain "{{}}", got '
                         f'{template!r}')
    return template.format(', '.join(prompt_names))


def make_cache_command(out: str,
                       config: Optional[str] = None,
                       classes: Optional[Sequence[str]] = None) -> str:
    """The shell command that writes a prompt cache to ``out``."""
    cmd = ['python', 'tools/misc/extract_prompt_embeddings.py']
    if config is not None:
        cmd.append(config)
    elif classes is not None:
        cmd += ['--classes', *classes]
    else:
        cmd.append('CONFIG')
    cmd += ['--out', out, '--weights', 'PATH/TO/open_clip_model.bin']
    return ' '.join(shlex.quote(c) if c != 'CONFIG' else c for c in cmd)


def save_prompt_cache(path: str, *, classes: Sequence[str],
                      prompt_names: Sequence[str], template: str, prompt: str,
                      model: str, pretrained: Optional[str],
                      embedding_type: str, tokens: torch.Tensor,
                      embeddings: torch.Tensor,
                      encoder: str = LEGACY_ENCODER) -> dict:
    """Write a prompt cache atomically and return the saved dict."""
    if len(classes) != len(prompt_names):
        raise ValueError(f'{len(classes)} classes but {len(prompt_names)} '
                         'prompt names')
    if embeddings.ndim != 2 or tokens.ndim != 1 or \
            tokens.numel() != embeddings.shape[0]:
        raise ValueError('Expected tokens (M,) and embeddings (M, D), got '
                         f'{tuple(tokens.shape)} and '
                         f'{tuple(embeddings.shape)}')
    data = dict(
        format_version=FORMAT_VERSION,
        classes=[str(c) for c in classes],
        prompt_names=[str(n) for n in prompt_names],
        template=str(template),
        prompt=str(prompt),
        encoder=str(encoder),
        model=str(model),
        pretrained=None if pretrained is None else str(pretrained),
        embedding_type=str(embedding_type),
        tokens=tokens.detach().cpu().long().contiguous(),
        embeddings=embeddings.detach().cpu().float().contiguous())
    atomic_torch_save(data, path)
    return data


def save_random_prompt_cache(path: str,
                             classes: Sequence[str],
                             num_tokens: int,
                             dims: int,
                             generator: Optional[torch.Generator] = None,
                             pretrained: Optional[str] = None,
                             prompt_names: Optional[Sequence[str]] = None
                             ) -> dict:
    """Save a valid cache of random embeddings (tests, smoke runs, benches).

    The prompt is the default template over ``prompt_names`` (the class
    names with ``_`` as spaces by default); the embeddings are
    ``0.02 * randn(num_tokens, dims)`` drawn from ``generator`` (the global
    RNG when None). ``pretrained=None`` marks the cache as random-weight
    (:class:`LDRNeck` warns about it).

    Returns:
        dict: The saved content, as :func:`save_prompt_cache`.
    """
    classes = list(classes)
    names = list(prompt_names or [c.replace('_', ' ') for c in classes])
    return save_prompt_cache(
        path, classes=classes, prompt_names=names, template=DEFAULT_TEMPLATE,
        prompt=build_prompt(names), model='ViT-B-32',
        pretrained=pretrained, embedding_type='token',
        tokens=torch.arange(num_tokens),
        embeddings=torch.randn(num_tokens, dims, generator=generator) * 0.02)


def load_prompt_cache(path: str,
                      classes: Optional[Sequence[str]] = None,
                      num_classes: Optional[int] = None) -> dict:
    """Read and check a prompt cache.

    Args:
        path (str): The cache file.
        classes (Sequence[str], optional): If given, the cache must have been
            made for exactly these class names in this order.
        num_classes (int, optional): If given, the cache must hold this many
            classes.

    Returns:
        dict: The cache content (see the module docstring).

    Raises:
        PromptCacheError: The file is missing, unreadable, of another format,
            or made for other classes. The message prints the command that
            makes a matching cache.
    """
    cmd = make_cache_command(path, classes=classes)
    data = _read_cache_file(path, cmd)
    data.setdefault('encoder', LEGACY_ENCODER)
    _check_cache_tensors(data, path, cmd)
    _check_cache_classes(data, path, cmd, classes, num_classes)
    return data


def _read_cache_file(path: str, cmd: str) -> dict:
    """Load the file; refuse a missing, unreadable or foreign/old one."""
    if not osp.isfile(path):
        raise PromptCacheError(
            f'Prompt embedding cache "{path}" does not exist. Make it with:\n'
            f'  {cmd}\n(`--weights none` gives random CLIP weights, for tests '
            'only; `--encoder transformers|word2vec` uses another text '
            'encoder, docs/prompts.md; pass `use_prompt=False` to the neck '
            'for the no-prompt ablation.)')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure
        raise PromptCacheError(
            f'Prompt embedding cache "{path}" could not be read ({e}). '
            f'Make it again with:\n  {cmd}') from e
    if not isinstance(data, dict) or any(k not in data
                                         for k in _REQUIRED_KEYS):
        missing = [k for k in _REQUIRED_KEYS
                   if not isinstance(data, dict) or k not in data]
        raise PromptCacheError(
            f'"{path}" is not an ldr_mm prompt cache (missing keys '
            f'{missing}). Make it with:\n  {cmd}')
    if data['format_version'] != FORMAT_VERSION:
        raise PromptCacheError(
            f'Prompt cache "{path}" has format version '
            f'{data["format_version"]}, this ldr_mm reads {FORMAT_VERSION}. '
            f'Make it again with:\n  {cmd}')
    return data


def _check_cache_tensors(data: dict, path: str, cmd: str) -> None:
    """Embeddings (M, D) finite, tokens (M,)."""
    emb, tok = data['embeddings'], data['tokens']
    if not (isinstance(emb, torch.Tensor) and emb.ndim == 2
            and isinstance(tok, torch.Tensor) and tok.ndim == 1
            and tok.numel() == emb.shape[0]):
        raise PromptCacheError(
            f'Prompt cache "{path}" is corrupt: embeddings must be (M, D) and '
            f'tokens (M,). Make it again with:\n  {cmd}')
    if not torch.isfinite(emb).all():
        raise PromptCacheError(
            f'Prompt cache "{path}" holds NaN/Inf embeddings. Make it again '
            f'with:\n  {cmd}')


def _check_cache_classes(data: dict, path: str, cmd: str,
                         classes: Optional[Sequence[str]],
                         num_classes: Optional[int]) -> None:
    """The cache was made for ``classes`` (in order) / ``num_classes``."""
    if classes is not None and list(data['classes']) != list(classes):
        raise PromptCacheError(
            f'Prompt cache "{path}" was made for the classes '
            f'{data["classes"]}, but the model/dataset uses {list(classes)} '
            f'({class_difference(data["classes"], classes)}). Make a '
            f'matching cache with:\n  {cmd}')
    if num_classes is not None and len(data['classes']) != num_classes:
        raise PromptCacheError(
            f'Prompt cache "{path}" holds {len(data["classes"])} classes '
            f'({data["classes"]}) but the model has num_classes='
            f'{num_classes}. Make a matching cache with:\n  {cmd}')
