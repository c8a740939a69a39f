"""Two-way multi-label loss (Kobayashi, CVPR 2023)."""
from typing import Optional

import torch
import torch.nn.functional as F

from mmpretrain.registry import MODELS

from .base import MultiLabelLoss
from .utils import check_reduction


def _two_way_terms(x: torch.Tensor, pos: torch.Tensor, tp: float,
                   tn: float) -> torch.Tensor:
    """Softplus terms of the rows of ``x`` (R, K) over their own classes.

    For each row r with positives P_r and negatives N_r (both non-empty)::

        softplus( tn * log sum_{n in N_r} exp(x_n / tn)
                + tp * log sum_{p in P_r} exp(-x_p / tp) )

    A row with positives but no negatives has no pair to compare: its term
    is exactly 0 (``log(1 + 0)``). Rows without positives are dropped.

    Returns:
        Tensor: (R',) the terms of the R' rows that have a positive.
    """
    has_pos = pos.any(1)
    has_neg = (~pos).any(1)
    x, pos = x[has_pos], pos[has_pos]
    both = has_neg[has_pos]
    terms = x.new_zeros(x.shape[0])
    if bool(both.any()):
        xb, pb = x[both], pos[both]
        # every kept row has >= 1 unmasked entry in each set, so the masked
        # entries get exp(-inf) = 0 weight and zero gradient
        neg = tn * torch.logsumexp(
            (xb / tn).masked_fill(pb, float('-inf')), dim=1)
        hard_pos = tp * torch.logsumexp(
            (-xb / tp).masked_fill(~pb, float('-inf')), dim=1)
        terms = terms.index_put((both.nonzero(as_tuple=True)[0], ),
                                F.softplus(neg + hard_pos))
    return terms


@MODELS.register_module()
class TwoWayMultiLabelLoss(MultiLabelLoss):
    """Two-way multi-label loss of Kobayashi (CVPR 2023).

    Logits x (N, C) and multi-hot targets y (N, C). The loss compares
    positives with negatives in two directions, each a smooth (log-sum-exp)
    version of "hardest negative minus hardest positive"::

        l_sample(i) = softplus( Tn log sum_{c: y_ic=0} exp(x_ic / Tn)
                              + Tp log sum_{c: y_ic=1} exp(-x_ic / Tp) )
        l_class(c)  = softplus( Tn log sum_{i: y_ic=0} exp(x_ic / Tn)
                              + Tp log sum_{i: y_ic=1} exp(-x_ic / Tp) )
        L = mean_{i in I+} l_sample(i) + mean_{c in C+} l_class(c)

    where I+ are the samples with at least one positive class and C+ the
    classes with at least one positive sample in the batch (a sample or class
    with positives but no negatives contributes 0, as ``log(1 + 0)``). With
    Tp = Tn = 1, l_sample(i) = log(1 + sum_p sum_n exp(x_in - x_ip)).

    The class-wise term makes the loss depend on the whole batch, so it is
    not an element-wise loss: ``avg_factor`` passed by the head is ignored
    (the two means above are the paper's normalisation), ``weight`` is not
    supported and ``reduction='none'`` is refused. Under DDP each rank's
    class-wise term runs over its own batch, as in the reference code.

    Args:
        tp (float): Temperature of the positive side. Defaults to 4.0 (the
            paper's setting).
        tn (float): Temperature of the negative side. Defaults to 1.0.
        reduction (str): 'mean' (the paper) or 'sum' (the sums of the
            sample-wise and class-wise terms). Defaults to 'mean'.
        loss_weight (float): Multiplier. Defaults to 1.0.
    """

    def __init__(self,
                 tp: float = 4.0,
                 tn: float = 1.0,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0):
        super().__init__()
        if tp <= 0 or tn <= 0:
            raise ValueError(f'TwoWayMultiLabelLoss needs positive '
                             f'temperatures, got tp={tp}, tn={tn}')
        if check_reduction(reduction, 'TwoWayMultiLabelLoss') == 'none':
            raise ValueError("TwoWayMultiLabelLoss is not element-wise: "
                             "reduction must be 'mean' or 'sum'")
        self.tp = float(tp)
        self.tn = float(tn)
        self.reduction = reduction
        self.loss_weight = loss_weight

    def reduced_loss(self, cls_score: torch.Tensor, label: torch.Tensor,
                     weight: Optional[torch.Tensor], reduction: str,
                     avg_factor: Optional[float]) -> torch.Tensor:
        """The scalar loss: sample-wise plus class-wise terms (``weight``
        must be None, ``reduction`` 'mean' or 'sum', ``avg_factor`` is
        ignored: see the class docstring)."""
        if weight is not None:
            raise ValueError('TwoWayMultiLabelLoss does not support '
                             'element-wise weights')
        if reduction == 'none':
            raise ValueError("TwoWayMultiLabelLoss is not element-wise: "
                             "reduction must be 'mean' or 'sum'")
        x = cls_score.float() if cls_score.dtype in (
            torch.float16, torch.bfloat16) else cls_score
        pos = label > 0.5
        sample_terms = _two_way_terms(x, pos, self.tp, self.tn)
        class_terms = _two_way_terms(x.t(), pos.t(), self.tp, self.tn)
        # `0 * sum` keeps the graph connected when no term has a pair (e.g.
        # a batch without positives), so backward and DDP still work
        loss = 0 * x.sum()
        for terms in (sample_terms, class_terms):
            if terms.numel():
                loss = loss + (terms.mean()
                               if reduction == 'mean' else terms.sum())
        return loss
