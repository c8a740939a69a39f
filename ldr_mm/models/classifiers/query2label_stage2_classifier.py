"""LDR stage 2 on a Query2Label stage 1: the label-query decoder as the
neck."""
from typing import Dict

import torch

from mmpretrain.registry import MODELS

from .attention_head_stage2 import AttentionHeadStage2Classifier
from .ldr_stage2_classifier import Stage1CheckpointError

#: Query2LabelHead's decoder settings (those of Query2LabelNeck).
_Q2L_OPTIONAL_KEYS = ('embed_dims', 'num_layers', 'num_encoder_layers',
                      'num_heads', 'feedforward_channels', 'dropout',
                      'pos_encoding', 'num_extra_tokens', 'token_grid',
                      'query_init_std')
#: The group-wise linear layer: stays in the head.
_Q2L_HEAD_KEYS = ('head.weight', 'head.bias')


def q2l_to_stage2_state(state: Dict[str, torch.Tensor]
                        ) -> Dict[str, torch.Tensor]:
    """Map an ``ImageClassifier`` + ``Query2LabelHead`` state dict onto
    :class:`Query2LabelStage2Classifier`: ``head.weight`` / ``head.bias``
    (the group-wise linear layer) stay the group-wise head's, every other
    ``head.<x>`` (projection, encoder, decoder, label queries) becomes
    ``neck.<x>``; the backbone is unchanged. The neck and head compute what
    the Query2Label head did, so the logits are the same.

    Raises:
        Stage1CheckpointError: The state dict has no Query2Label head.
    """
    if 'head.query_embed' not in state or not any(
            k.startswith('head.decoder.') for k in state):
        raise Stage1CheckpointError(
            'The stage-1 checkpoint has no Query2LabelHead weights '
            '(head.query_embed, head.decoder.*): '
            'Query2LabelStage2Classifier fine-tunes a model of '
            'configs/baselines/q2l_*.py; a CSRA stage 1 goes with '
            'CSRAStage2Classifier, an LDR stage 1 with LDRStage2Classifier.')
    return {('neck.' + k[len('head.'):]
             if k.startswith('head.') and k not in _Q2L_HEAD_KEYS else k): v
            for k, v in state.items()}


@MODELS.register_module()
class Query2LabelStage2Classifier(AttentionHeadStage2Classifier):
    """LDR's stage 2 (Gaussian reconstruction + EM) on a trained
    Query2Label-style model (:class:`~ldr_mm.models.heads.Query2LabelHead`).

    Query2Label's logit of class c is ``<w_c, h_c> + b_c`` with h_c the
    decoded label query c: class-aware features and a group-wise linear
    head, what LDR's stage 2 needs. The config keeps stage 1's
    ``model.head`` (the ``Query2LabelHead`` settings) and names the stage-2
    loss in it; this class turns it into
    :class:`~ldr_mm.models.necks.Query2LabelNeck` (the decoder, trained by
    the E-step) and :class:`~ldr_mm.models.LDRHead` (``w``, ``b``: the
    group-wise classifier the M-step refits). :meth:`init_weights` loads the
    Query2Label stage-1 checkpoint strictly through
    :func:`q2l_to_stage2_state`, so before round 1 the model's logits are
    exactly the Query2Label model's.

    Args:
        backbone (dict): Backbone config (stage 1's).
        head (dict): Stage 1's ``Query2LabelHead`` config: ``num_classes``,
            ``in_channels`` and the decoder settings go to the neck;
            ``loss`` (the E-step loss) and ``thr`` / ``topk`` to the
            group-wise head.
        stage1_checkpoint (str): The Query2Label stage-1 checkpoint.
        **kwargs: :class:`~ldr_mm.models.LDRStage2Classifier` arguments.
    """

    stage1_name = 'Query2Label'
    neck_type = 'Query2LabelNeck'
    required_keys = ('num_classes', 'in_channels')
    optional_keys = _Q2L_OPTIONAL_KEYS

    def stage1_to_stage2_state(self, state: Dict[str, torch.Tensor]
                               ) -> Dict[str, torch.Tensor]:
        """:func:`q2l_to_stage2_state`."""
        return q2l_to_stage2_state(state)
