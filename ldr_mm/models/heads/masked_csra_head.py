"""MMPretrain's CSRA head with U-Ignore masks in its loss."""
from mmpretrain.models.heads import CSRAClsHead
from mmpretrain.registry import MODELS

from .label_mask import MaskedLossMixin


@MODELS.register_module()
class MaskedCSRAClsHead(MaskedLossMixin, CSRAClsHead):
    """:class:`CSRAClsHead` whose loss honours ``gt_mask`` (U-Ignore).

    The attention-head baseline (``configs/_base_/models/csra_*.py``):
    class-specific residual attention on the backbone map (B, D, H, W) ->
    logits (B, C), with every ``CSRAClsHead`` argument (``num_classes``,
    ``in_channels``, ``num_heads``, ``lam``, ``loss``, ``thr``, ``topk``,
    ``init_cfg``). Entries masked by a sample's ``gt_mask`` add no loss and
    no gradient; the normaliser stays MMPretrain's (the batch size), so
    without masks the loss is the parent's. Parameters (state-dict keys
    ``csra_heads.<h>.head.weight``), logits and predictions are exactly
    the parent's: its checkpoints load both ways, and
    :class:`~ldr_mm.models.CSRAStage2Classifier` reads them unchanged.
    MMPretrain's own head trains a masked label as a negative.
    """
