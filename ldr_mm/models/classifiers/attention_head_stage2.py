"""LDR stage 2 on an attention-head stage 1: the head's feature part as the
neck, its per-class classifier as the group-wise head the M-step refits."""
import copy
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log

from ldr_mm.utils import (CheckpointMismatchError, checkpoint_state_dict,
                          load_strict, safe_load_checkpoint)

from .ldr_stage2_classifier import (LDRStage2Classifier, Stage1CheckpointError,
                                    require_stage1_file)


class AttentionHeadStage2Classifier(LDRStage2Classifier):
    """Base of the stage-2 classifiers on a trained attention-head model
    (an ``ImageClassifier`` with no neck and a head that computes class-aware
    features and one linear score per class).

    The config keeps stage 1's ``model.head``; the constructor splits it
    into a neck of type :attr:`neck_type` (the settings
    :attr:`required_keys` and those of :attr:`optional_keys` that are given)
    and :class:`~ldr_mm.models.LDRHead` (the rest: the E-step loss,
    ``thr`` / ``topk``). :meth:`init_weights` loads the stage-1 checkpoint
    strictly after :meth:`stage1_to_stage2_state` has converted it, so
    round 0 is the stage-1 model. A subclass sets the class attributes and
    implements :meth:`stage1_to_stage2_state`.

    Args:
        backbone (dict): Backbone config (stage 1's).
        head (dict): Stage 1's head config.
        stage1_checkpoint (str): The stage-1 checkpoint.
        neck (None): Refused: the neck comes from ``head``.
        neck_options (dict, optional): Extra neck arguments that are no
            stage-1 head setting (the subclass's own options).
        **kwargs: :class:`~ldr_mm.models.LDRStage2Classifier` arguments.
    """

    #: The stage-1 model in messages, e.g. ``'CSRA'``.
    stage1_name: str = ''
    #: The registered neck built from the stage-1 head's settings.
    neck_type: str = ''
    #: Head settings the neck needs (refused if missing).
    required_keys: Tuple[str, ...] = ()
    #: Head settings that go to the neck when given.
    optional_keys: Tuple[str, ...] = ()

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 stage1_checkpoint: Optional[str] = None,
                 neck: Optional[dict] = None,
                 neck_options: Optional[dict] = None,
                 **kwargs):
        name = type(self).__name__
        if neck is not None:
            raise ValueError(f'{name} builds its neck from model.head (the '
                             f'{self.stage1_name} settings); remove '
                             'model.neck from the config.')
        head = dict(copy.deepcopy(head))
        missing = [k for k in self.required_keys if head.get(k) is None]
        if missing:
            raise ValueError(f'{name}: model.head needs the '
                             f'{self.stage1_name} stage-1 settings {missing}')
        head.pop('type', None)
        head.pop('init_cfg', None)
        keys = self.required_keys + tuple(
            k for k in self.optional_keys if k in head)
        neck = dict(type=self.neck_type, **(neck_options or {}),
                    **{k: head.pop(k) for k in keys})
        head = dict(type='LDRHead', **head)
        super().__init__(backbone=backbone, neck=neck, head=head,
                         stage1_checkpoint=stage1_checkpoint, **kwargs)

    def stage1_to_stage2_state(self, state: Dict[str, torch.Tensor]
                               ) -> Dict[str, torch.Tensor]:
        """The stage-1 state dict in this model's keys.

        Raises:
            Stage1CheckpointError: ``state`` is no model of this stage 1.
        """
        raise NotImplementedError

    def init_weights(self):
        """All weights from the stage-1 checkpoint (converted)."""
        name = type(self).__name__
        path = self.stage1_checkpoint
        if path is None:
            raise ValueError(
                f'{name} needs model.stage1_checkpoint, the '
                f'{self.stage1_name} stage-1 checkpoint (--cfg-options '
                'model.stage1_checkpoint=PATH).')
        require_stage1_file(path)
        ckpt = safe_load_checkpoint(path)
        try:
            state = checkpoint_state_dict(ckpt)
            converted = self.stage1_to_stage2_state(state)
        except CheckpointMismatchError as e:
            raise Stage1CheckpointError(f'"{path}": {e}') from None
        self.stage1_meta = load_strict(
            self, dict(state_dict=converted, meta=ckpt.get('meta') or {}),
            what=f'The {self.stage1_name} stage-1 checkpoint "{path}"',
            hint=f'  Stage 2 must build the same model as stage 1: inherit '
            f'the {self.stage1_name} config and keep its backbone and head '
            'settings.',
            error=Stage1CheckpointError)
        print_log(f'Loaded the {self.stage1_name} stage-1 weights from '
                  f'{path}', logger='current')
        self._is_init = True
        for m in self.modules():
            if hasattr(m, '_is_init'):
                m._is_init = True
