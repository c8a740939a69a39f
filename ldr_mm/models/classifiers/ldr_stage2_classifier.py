"""The LDRNet stage-2 classifier: stage-1 weights in, head frozen for DDP."""
import contextlib
import os.path as osp
from typing import Iterator, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmpretrain.registry import MODELS

from ldr_mm.utils import (CheckpointMismatchError, checkpoint_state_dict,
                          load_strict, safe_load_checkpoint)

from .ldr_classifier import LDRClassifier


class Stage1CheckpointError(CheckpointMismatchError, ValueError):
    """The stage-1 checkpoint does not fit the stage-2 model."""


def _shape_summary(state: dict) -> dict:
    """C, D (the neck width: the label embeddings', else the head's input)
    and M (prompt tokens) as a state dict of LDRNet shows them. With
    ``gap_residual='concat'`` the head's input is 2D, so the label
    embeddings say D."""
    out = {}
    w = state.get('head.weight')
    if w is not None and w.ndim == 2:
        out['C'], out['D'] = int(w.shape[0]), int(w.shape[1])
    labels = state.get('neck.label_embed')
    if labels is not None and labels.ndim == 2:
        out['D'] = int(labels.shape[1])
    words = state.get('neck.word_embeddings')
    out['M'] = int(words.shape[0]) if words is not None else 0
    return out


def require_stage1_file(path: str) -> None:
    """``FileNotFoundError`` that says how to get a missing stage-1
    checkpoint."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'The stage-1 checkpoint model.stage1_checkpoint="{path}" does '
            'not exist. Train stage 1 first (python tools/train.py '
            '<the stage-1 config>) or point stage 2 at it with '
            '--cfg-options model.stage1_checkpoint=PATH.')


def load_stage1_checkpoint(model: nn.Module, path: str) -> dict:
    """Load a stage-1 checkpoint into ``model`` strictly, or say why not.

    :func:`~ldr_mm.utils.load_strict`: every key must be present with the
    same shape in both (no silent partial load), so a checkpoint of another
    class count C, width D or prompt length M is refused before any
    training; the message shows C, D and M of both.

    Args:
        model (nn.Module): The stage-2 model.
        path (str): An MMEngine checkpoint (``state_dict`` inside) or a bare
            state dict, loaded with ``weights_only=True``.

    Returns:
        dict: The checkpoint's ``meta`` ({} if none).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ldr_mm.utils.CorruptCheckpointError: The file is empty or truncated.
        Stage1CheckpointError: Keys or shapes differ.
    """
    require_stage1_file(path)
    ckpt = safe_load_checkpoint(path)
    try:
        ck = _shape_summary(checkpoint_state_dict(ckpt))
    except CheckpointMismatchError as e:
        raise Stage1CheckpointError(f'"{path}": {e}') from None
    hint = (f'  checkpoint: {ck}; model: {_shape_summary(model.state_dict())}'
            ' (C classes, D feature width, M prompt tokens).\n  Stage 2 must '
            'build the same model as stage 1: inherit the stage-1 config and '
            'keep num_classes, the backbone, neck width and prompt cache.')
    return load_strict(model, ckpt, what=f'The stage-1 checkpoint "{path}"',
                       hint=hint, error=Stage1CheckpointError)


@MODELS.register_module()
class LDRStage2Classifier(LDRClassifier):
    """:class:`LDRClassifier` for stage 2 (EM fine-tuning).

    * Loads ``stage1_checkpoint`` strictly in :meth:`init_weights`, which the
      runner calls before ``load_or_resume()``: a fresh stage 2 starts from
      stage 1, and ``--resume`` then overrides the weights with the stage-2
      checkpoint. MMEngine's ``load_from`` is deliberately not used (with
      ``--resume`` it would be replaced, or resume stage 1's optimiser and
      iteration).
    * Freezes the head (``requires_grad_(False)``) at construction, before
      the runner wraps the model in DDP, so the DDP reducer only covers the
      backbone and neck that the E-step trains. The E-step loss still
      reaches the encoder *through* the frozen head (gradients are not
      blocked, only not accumulated for the head).
      :class:`~ldr_mm.engine.EMTrainLoop` unfreezes it during its M-step
      (:meth:`classifier_trainable`).

    ``forward``/``loss``/``predict`` are those of :class:`LDRClassifier`; the
    E-step loss is the head's loss (``MultiLabelGCELoss`` in stage-2 configs).

    Args:
        stage1_checkpoint (str): The stage-1 checkpoint. Required for
            training; testing a stage-2 checkpoint does not read it.
        **kwargs: :class:`LDRClassifier` arguments.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 stage1_checkpoint: Optional[str] = None,
                 **kwargs):
        super().__init__(backbone=backbone, neck=neck, head=head, **kwargs)
        self.stage1_checkpoint = stage1_checkpoint
        self.stage1_meta: Optional[dict] = None
        self.head.requires_grad_(False)

    def init_weights(self):
        """All weights from the stage-1 checkpoint (no other initialiser
        runs, so e.g. no ImageNet download of the backbone)."""
        if self.stage1_checkpoint is None:
            raise ValueError(
                'LDRStage2Classifier needs model.stage1_checkpoint, the '
                'stage-1 checkpoint to fine-tune (set it in the config or '
                'with --cfg-options model.stage1_checkpoint=PATH).')
        meta = load_stage1_checkpoint(self, self.stage1_checkpoint)
        self.stage1_meta = meta
        print_log(
            f'Loaded the stage-1 weights from {self.stage1_checkpoint}',
            logger='current')
        self._is_init = True
        for m in self.modules():
            if hasattr(m, '_is_init'):
                m._is_init = True

    @property
    def stage1_classes(self) -> Optional[list]:
        """Class names the stage-1 checkpoint was trained on, if recorded."""
        meta = (self.stage1_meta or {}).get('dataset_meta') or {}
        classes = meta.get('classes')
        return list(classes) if classes is not None else None

    def classifier_parameters(self) -> Iterator[nn.Parameter]:
        """f_cls's parameters (what the M-step trains)."""
        return self.head.parameters()

    @contextlib.contextmanager
    def classifier_trainable(self):
        """Enable head gradients inside the block, freeze again after."""
        params = list(self.classifier_parameters())
        for p in params:
            p.requires_grad_(True)
        try:
            yield params
        finally:
            for p in params:
                p.requires_grad_(False)
                p.grad = None

    def classify_features(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, C) of class-aware features x (B, C, D)."""
        return self.head.classify(x)
