"""Prompt embeddings from a Hugging Face ``transformers`` text encoder.

For the paper's BlueBERT row of Table 5 and other domain encoders
(BiomedBERT / PubMedBERT, CXR-BERT, ClinicalBERT, ...): any model directory
that ``transformers.AutoModel`` and ``AutoTokenizer`` read, i.e. the files
``save_pretrained`` writes (``config.json``, weights, ``vocab.txt`` or
``tokenizer.json``). Loading is local only: no hub access is attempted.
"""
import os.path as osp
from typing import Tuple

import torch

_TESTED = 'transformers==5.24.0'


def import_transformers():
    """Import ``transformers`` or say which package to install."""
    try:
        import transformers
    except ImportError as e:
        raise ImportError(
            'Hugging Face text encoders need the `transformers` package, '
            f'which is not installed: pip install {_TESTED} (the tested '
            'version; see requirements/tests.txt for the range).') from e
    return transformers


def check_model_dir(path: str, what: str = 'Hugging Face model') -> None:
    """A local ``save_pretrained`` directory with its ``config.json``."""
    if not osp.isdir(path):
        raise FileNotFoundError(
            f'{what} directory "{path}" does not exist. Give the local '
            'folder holding config.json, the weights and the tokenizer files '
            '(e.g. a `huggingface-cli download` or `save_pretrained` '
            'folder); hub names are not fetched.')
    if not osp.isfile(osp.join(path, 'config.json')):
        raise FileNotFoundError(
            f'{what} directory "{path}" has no config.json: it is not a '
            'transformers model folder.')


def hf_token_embeddings(model, ids: torch.Tensor, embedding_type: str,
                        name: str) -> torch.Tensor:
    """Per-token embeddings of ``ids`` from a ``transformers`` model.

    Args:
        model: A ``transformers`` ``PreTrainedModel`` (an encoder).
        ids (Tensor): (M,) token ids with the special start / end tokens.
        embedding_type (str): ``'token'``: rows of the input (word-piece)
            embedding table, no context; ``'text'``: the last hidden states
            (bidirectional context), limited to the position table.
        name (str): The model, for error messages.

    Returns:
        Tensor: (M, D') float32 on the CPU.
    """
    if embedding_type == 'token':
        return model.get_input_embeddings()(ids).float().cpu()
    limit = getattr(model.config, 'max_position_embeddings', None)
    if limit is not None and ids.numel() > limit:
        raise ValueError(
            f'The prompt has {ids.numel()} tokens, more than the {limit} '
            f'positions of {name}; use embedding_type=\'token\' or shorter '
            'class names.')
    out = model(input_ids=ids[None],
                attention_mask=torch.ones_like(ids)[None])
    return out.last_hidden_state[0].float().cpu()


@torch.no_grad()
def extract_hf_word_embeddings(
        prompt: str,
        model_dir: str,
        embedding_type: str = 'token',
        device: str = 'cpu',
        trust_remote_code: bool = False
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Tokenise ``prompt`` with a local ``transformers`` model.

    Args:
        prompt (str): The sentence.
        model_dir (str): The model folder (``config.json``, weights,
            tokenizer files).
        embedding_type (str): ``'token'`` (default, the token-embedding
            rows, as for CLIP) or ``'text'`` (last hidden states).
        device (str): Where to run the model. Defaults to ``'cpu'``.
        trust_remote_code (bool): Allow the folder's own modelling code
            (needed by e.g. CXR-BERT-specialized). Defaults to False.

    Returns:
        tuple: ``tokens`` LongTensor (M,) with the tokenizer's special tokens
        (``[CLS] ... [SEP]`` for BERT), ``embeddings`` FloatTensor (M, D').
    """
    if embedding_type not in ('token', 'text'):
        raise ValueError(f"embedding_type must be 'token' or 'text', got "
                         f'{embedding_type!r}')
    transformers = import_transformers()
    check_model_dir(model_dir)
    kw = dict(local_files_only=True, trust_remote_code=trust_remote_code)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, **kw)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(
            f'No usable tokenizer in "{model_dir}" ({e}); the folder needs '
            'the tokenizer files (vocab.txt or tokenizer.json, '
            'tokenizer_config.json).') from e
    model = transformers.AutoModel.from_pretrained(model_dir, **kw)
    model.to(device).eval()
    ids = torch.tensor(tokenizer(prompt)['input_ids'], dtype=torch.long)
    emb = hf_token_embeddings(model, ids.to(device), embedding_type,
                              model_dir)
    return ids, emb
