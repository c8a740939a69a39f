"""The LDRNet classifier: backbone + :class:`LDRNeck` + :class:`LDRHead`."""
import copy
from typing import Optional

from mmpretrain.models.classifiers import ImageClassifier
from mmpretrain.registry import MODELS

from ldr_mm.models.necks.tokens import backbone_extra_tokens


@MODELS.register_module()
class LDRClassifier(ImageClassifier):
    """:class:`ImageClassifier` that keeps neck and head consistent.

    The class count lives in one place (``head.num_classes``, MMPretrain's
    habit) and the head width follows the neck (``neck.out_channels``, the
    class-aware width: ``embed_dims``, twice that with
    ``gap_residual='concat'``), so a
    backbone swap by inheritance only needs ``model.backbone`` and
    ``model.neck.in_channels``. A neck with ``num_extra_tokens='auto'`` takes
    the backbone's class/prefix-token count when the backbone states one
    (MMPretrain's ``num_extra_tokens``, timm's ``num_prefix_tokens``).

    Args:
        backbone (dict): Backbone config.
        neck (dict): :class:`LDRNeck` config; ``num_classes`` defaults to
            ``head.num_classes``.
        head (dict): :class:`LDRHead` config; ``in_channels`` defaults to the
            neck's ``out_channels`` (else its ``embed_dims``).
        **kwargs: Other :class:`ImageClassifier` arguments.
    """

    def __init__(self, backbone: dict, neck: dict, head: dict,
                 pretrained: Optional[str] = None, **kwargs):
        neck = copy.deepcopy(neck)
        head = copy.deepcopy(head)
        if isinstance(neck, dict) and isinstance(head, dict):
            n_head = head.get('num_classes')
            n_neck = neck.get('num_classes')
            if n_head is None and n_neck is None:
                raise ValueError('Set model.head.num_classes')
            if n_neck is None:
                neck['num_classes'] = n_head
            elif n_head is None:
                head['num_classes'] = n_neck
            elif n_head != n_neck:
                raise ValueError(f'model.neck.num_classes={n_neck} but '
                                 f'model.head.num_classes={n_head}')
        if isinstance(neck, dict):
            neck = MODELS.build(neck)
        if isinstance(head, dict) and head.get('in_channels') is None:
            head['in_channels'] = getattr(neck, 'out_channels',
                                         getattr(neck, 'embed_dims'))
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            **kwargs)
        if getattr(self.neck, 'num_extra_tokens', None) == 'auto':
            count = backbone_extra_tokens(self.backbone)
            if count is not None:
                self.neck.num_extra_tokens = count

    @property
    def num_classes(self) -> int:
        return self.head.num_classes
