"""LDR stage 2 on a CSRA stage 1: CSRA's attention as the neck."""
import copy
from typing import Dict, Optional

import torch
from mmengine.logging import print_log

from mmpretrain.registry import MODELS

from ldr_mm.utils import (CheckpointMismatchError, checkpoint_state_dict,
                          load_strict, safe_load_checkpoint)

from .ldr_stage2_classifier import LDRStage2Classifier, Stage1CheckpointError

_CSRA_KEYS = ('num_classes', 'in_channels', 'num_heads', 'lam')


def csra_to_stage2_state(state: Dict[str, torch.Tensor],
                         model: 'CSRAStage2Classifier'
                         ) -> Dict[str, torch.Tensor]:
    """Map an ``ImageClassifier`` + ``CSRAClsHead`` state dict onto
    ``model``: ``head.csra_heads.*`` becomes ``neck.csra_heads.*`` (the
    attention), and the group-wise head gets the weight that reproduces
    CSRA's logits (:meth:`CSRANeck.csra_head_weight`) and bias 0.

    Raises:
        Stage1CheckpointError: The state dict has no CSRA head.
    """
    prefix = 'head.csra_heads.'
    if not any(k.startswith(prefix) for k in state):
        raise Stage1CheckpointError(
            'The stage-1 checkpoint has no CSRAClsHead weights '
            f'({prefix}*): CSRAStage2Classifier fine-tunes a model of '
            'configs/baselines/csra_*.py; an LDR stage 1 goes with '
            'LDRStage2Classifier.')
    out = {('neck.' + k[len('head.'):] if k.startswith(prefix) else k): v
           for k, v in state.items()}
    neck = copy.deepcopy(model.neck)
    neck.load_state_dict({k[len('neck.'):]: v for k, v in out.items()
                          if k.startswith('neck.')}, strict=False)
    weight = neck.csra_head_weight()
    out['head.weight'] = weight.to(model.head.weight.dtype)
    out['head.bias'] = torch.zeros(weight.shape[0],
                                   dtype=model.head.bias.dtype)
    return out


@MODELS.register_module()
class CSRAStage2Classifier(LDRStage2Classifier):
    """LDR's stage 2 (Gaussian reconstruction + EM) on a trained CSRA model.

    The config keeps stage 1's ``model.head`` (MMPretrain's ``CSRAClsHead``
    settings: ``num_classes``, ``in_channels``, ``num_heads``, ``lam``) and
    names the stage-2 loss in it; this class turns it into
    :class:`~ldr_mm.models.necks.CSRANeck` (the attention, trained by the
    E-step) and :class:`~ldr_mm.models.LDRHead` (the group-wise classifier
    the M-step refits). :meth:`init_weights` loads the CSRA stage-1
    checkpoint strictly through :func:`csra_to_stage2_state`, so before
    round 1 the model's logits are exactly the CSRA model's.

    Args:
        backbone (dict): Backbone config (stage 1's).
        head (dict): Stage 1's ``CSRAClsHead`` config; ``loss`` (the E-step
            loss) and ``thr`` / ``topk`` go to the group-wise head.
        features (str): :class:`CSRANeck`'s ``features``.
        stage1_checkpoint (str): The CSRA stage-1 checkpoint.
        **kwargs: :class:`~ldr_mm.models.LDRStage2Classifier` arguments.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 features: str = 'concat',
                 stage1_checkpoint: Optional[str] = None,
                 neck: Optional[dict] = None,
                 **kwargs):
        if neck is not None:
            raise ValueError('CSRAStage2Classifier builds its neck from '
                             'model.head (the CSRA settings); remove '
                             'model.neck from the config.')
        head = dict(copy.deepcopy(head))
        missing = [k for k in _CSRA_KEYS if head.get(k) is None]
        if missing:
            raise ValueError(f'CSRAStage2Classifier: model.head needs the '
                             f'CSRA stage-1 settings {missing}')
        head.pop('type', None)
        head.pop('init_cfg', None)
        neck = dict(type='CSRANeck', features=features,
                    **{k: head.pop(k) for k in _CSRA_KEYS})
        head = dict(type='LDRHead', **head)
        super().__init__(backbone=backbone, neck=neck, head=head,
                         stage1_checkpoint=stage1_checkpoint, **kwargs)

    def init_weights(self):
        """All weights from the CSRA stage-1 checkpoint (converted)."""
        if self.stage1_checkpoint is None:
            raise ValueError(
                'CSRAStage2Classifier needs model.stage1_checkpoint, the '
                'CSRA stage-1 checkpoint (--cfg-options '
                'model.stage1_checkpoint=PATH).')
        path = self.stage1_checkpoint
        ckpt = safe_load_checkpoint(path)
        try:
            state = checkpoint_state_dict(ckpt)
        except CheckpointMismatchError as e:
            raise Stage1CheckpointError(f'"{path}": {e}') from None
        converted = dict(state_dict=csra_to_stage2_state(state, self),
                         meta=ckpt.get('meta') or {})
        self.stage1_meta = load_strict(
            self, converted, what=f'The CSRA stage-1 checkpoint "{path}"',
            hint='  Stage 2 must build the same model as stage 1: inherit '
            'the CSRA config and keep its backbone and head settings.',
            error=Stage1CheckpointError)
        print_log(f'Loaded the CSRA stage-1 weights from {path}',
                  logger='current')
        self._is_init = True
        for m in self.modules():
            if hasattr(m, '_is_init'):
                m._is_init = True
