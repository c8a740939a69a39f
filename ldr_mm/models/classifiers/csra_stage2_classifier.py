"""LDR stage 2 on a CSRA stage 1: CSRA's attention as the neck."""
import copy
from typing import Dict, Optional

import torch

from mmpretrain.registry import MODELS

from .attention_head_stage2 import AttentionHeadStage2Classifier
from .ldr_stage2_classifier import Stage1CheckpointError

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
            'configs/baselines/csra_*.py; a Query2Label stage 1 goes with '
            'Query2LabelStage2Classifier, an LDR stage 1 with '
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
class CSRAStage2Classifier(AttentionHeadStage2Classifier):
    """LDR's stage 2 (Gaussian reconstruction + EM) on a trained CSRA model.

    The config keeps stage 1's ``model.head`` (MMPretrain's ``CSRAClsHead``
    settings: ``num_classes``, ``in_channels``, ``num_heads``, ``lam``) and
    names the stage-2 loss in it; this class turns it into
    :class:`~ldr_mm.models.necks.CSRANeck` (the attention, trained by the
    E-step) and :class:`~ldr_mm.models.LDRHead` (the group-wise classifier
    the M-step refits). :meth:`init_weights` loads the CSRA stage-1
    checkpoint strictly through :func:`csra_to_stage2_state`, so before
    round 1 the model's logits are exactly the CSRA model's
    (:class:`AttentionHeadStage2Classifier`).

    Args:
        backbone (dict): Backbone config (stage 1's).
        head (dict): Stage 1's ``CSRAClsHead`` config; ``loss`` (the E-step
            loss) and ``thr`` / ``topk`` go to the group-wise head.
        features (str): :class:`CSRANeck`'s ``features``.
        stage1_checkpoint (str): The CSRA stage-1 checkpoint.
        **kwargs: :class:`~ldr_mm.models.LDRStage2Classifier` arguments.
    """

    stage1_name = 'CSRA'
    neck_type = 'CSRANeck'
    required_keys = _CSRA_KEYS

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 features: str = 'concat',
                 stage1_checkpoint: Optional[str] = None,
                 neck: Optional[dict] = None,
                 **kwargs):
        super().__init__(backbone=backbone, head=head,
                         stage1_checkpoint=stage1_checkpoint, neck=neck,
                         neck_options=dict(features=features), **kwargs)

    def stage1_to_stage2_state(self, state: Dict[str, torch.Tensor]
                               ) -> Dict[str, torch.Tensor]:
        """:func:`csra_to_stage2_state`."""
        return csra_to_stage2_state(state, self)
