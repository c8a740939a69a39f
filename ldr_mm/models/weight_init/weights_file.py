"""Read a pretrained weights file (local or URL) into a flat state dict.

Local ``.safetensors`` files are read with ``safetensors``; every other local
file with :func:`ldr_mm.utils.safe_load_checkpoint` (``torch.load`` with
``weights_only=True`` and exactly MMEngine's checkpoint globals allowed).
An ``http(s)://`` checkpoint is downloaded once into torch hub's cache
(``$TORCH_HOME/hub/checkpoints``, as MMEngine does) and then read as a local
file; a failed download raises :class:`WeightsDownloadError`, whose message
is one line naming ``init_cfg`` and the local-file alternative. Other
MMEngine schemes (``torchvision://``, ``open-mmlab://``, ...) go through
MMEngine's :class:`CheckpointLoader`.
"""
import http.client
import os
import os.path as osp
from typing import Dict
from urllib.parse import urlparse

import torch

from ldr_mm.utils.checkpoint import safe_load_checkpoint

DOCS = 'docs/weights.md'


class PretrainedWeightsError(RuntimeError):
    """A pretrained weights file cannot be used; the message is one line."""


class WeightsDownloadError(PretrainedWeightsError):
    """The pretrained weights could not be downloaded (e.g. offline)."""


def download_message(url: str, owner: str, reason: str) -> str:
    """The one-line message of a failed download of ``owner``'s weights."""
    return (f'Could not download the pretrained weights of {owner} from '
            f'{url} ({reason}). Offline? Start from a local file instead: '
            f'set its init_cfg, e.g. --cfg-options model.backbone.init_cfg.'
            f'checkpoint=/path/to/weights.pth (a torchvision, timm or '
            f'MMPretrain .pth/.pt file or a .safetensors file), or '
            f'model.backbone.init_cfg=None to start from random weights; '
            f'see {DOCS}.')


def _reason(error: BaseException) -> str:
    """``'URLError: [Errno -2] Name or service not known'``: one line."""
    reason = getattr(error, 'reason', None) or error
    text = str(reason).strip().splitlines()
    return type(error).__name__ + (f': {text[0]}' if text else '')


def _download(url: str, owner: str) -> str:
    """Download ``url`` into torch hub's cache once; return the local path."""
    cache = osp.join(torch.hub.get_dir(), 'checkpoints')
    path = osp.join(cache, osp.basename(urlparse(url).path))
    if osp.isfile(path):
        return path
    os.makedirs(cache, exist_ok=True)
    try:
        # writes to a temporary file and renames it: no partial cache entry
        torch.hub.download_url_to_file(url, path, progress=False)
    except (OSError, http.client.HTTPException) as e:
        raise WeightsDownloadError(
            download_message(url, owner, _reason(e))) from None
    return path


def read_weights(checkpoint: str, owner: str,
                 map_location: str = 'cpu') -> Dict:
    """Load ``checkpoint`` (a path or URL) as saved, without unwrapping.

    Args:
        checkpoint (str): Local file, ``http(s)://`` URL or an MMEngine
            checkpoint scheme.
        owner (str): What the weights are for, in messages (e.g.
            ``'ResNet'``).
        map_location (str): ``torch.load``'s map location.

    Returns:
        dict: The file's content (a state dict or a checkpoint dict).
    """
    if checkpoint.startswith(('http://', 'https://')):
        checkpoint = _download(checkpoint, owner)
    elif '://' in checkpoint:
        from mmengine.runner.checkpoint import CheckpointLoader
        return CheckpointLoader.load_checkpoint(checkpoint, map_location)
    if not osp.isfile(checkpoint):
        raise PretrainedWeightsError(
            f'The init_cfg checkpoint of {owner} "{checkpoint}" does not '
            f'exist: set model.backbone.init_cfg.checkpoint to an existing '
            f'weights file (see {DOCS}).')
    if checkpoint.endswith('.safetensors'):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise PretrainedWeightsError(
                f'Reading "{checkpoint}" needs the safetensors package: '
                '`pip install safetensors`.') from None
        return load_file(checkpoint, device=map_location or 'cpu')
    return safe_load_checkpoint(checkpoint, map_location=map_location)


def unwrap_state_dict(data: Dict) -> Dict[str, torch.Tensor]:
    """The weights of a checkpoint dict, without a DDP ``module.`` prefix.

    MMEngine / MMPretrain store them under ``state_dict``, timm's and DeiT's
    training scripts under ``model`` (or ``state_dict_ema``, not used);
    torchvision, Hugging Face and ``torch.save(model.state_dict())`` files
    are the weights themselves.
    """
    for key in ('state_dict', 'model', 'module'):
        if isinstance(data.get(key), dict):
            data = data[key]
            break
    weights = {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}
    if weights and all(k.startswith('module.') for k in weights):
        weights = {k[len('module.'):]: v for k, v in weights.items()}
    return weights
