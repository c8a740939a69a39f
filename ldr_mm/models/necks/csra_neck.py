"""CSRA's class-specific residual attention as a class-aware feature neck."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule, ModuleList

from mmpretrain.models.heads import CSRAClsHead
from mmpretrain.registry import MODELS

#: ``features`` of :class:`CSRANeck`.
CSRA_FEATURES = ('concat', 'sum')


class _AttentionWeights(nn.Module):
    """One CSRA head's 1x1 convolution (C, D, 1, 1), no bias: the parameter
    layout of MMPretrain's ``CSRAModule`` (``<name>.head.weight``)."""

    def __init__(self, num_classes: int, in_channels: int, temperature: int):
        super().__init__()
        self.T = int(temperature)
        self.head = nn.Conv2d(in_channels, num_classes, 1, bias=False)

    def unit_weight(self) -> torch.Tensor:
        """(C, D) weight rows scaled to norm 1 (CSRA's score direction)."""
        w = self.head.weight.flatten(1)
        return w / w.norm(dim=1, keepdim=True)

    def attend(self, x: torch.Tensor) -> torch.Tensor:
        """Attention-pooled features (B, C, D) of x (B, D, P)."""
        score = torch.einsum('cd,bdp->bcp', self.unit_weight(), x)
        if self.T == 99:  # CSRA's max pooling
            att = nn.functional.one_hot(score.argmax(2), x.shape[2]).to(x)
        else:
            att = torch.softmax(score * self.T, dim=2)
        return torch.einsum('bcp,bdp->bcd', att, x)


@MODELS.register_module()
class CSRANeck(BaseModule):
    """Class-aware features of CSRA (Zhu and Wu, ICCV 2021).

    MMPretrain's ``CSRAClsHead`` scores class c as ``sum_h <u_hc, g + lam
    a_hc>``: ``u_hc`` head h's unit weight row, ``g`` the mean-pooled map,
    ``a_hc`` its class-specific attention pooling (softmax over positions of
    ``T_h <u_hc, x_p>``, arg-max one-hot for ``T_h = 99``). This neck outputs
    those class features, so that a group-wise linear head
    (:class:`~ldr_mm.models.LDRHead`) and LDR's stage 2 apply to CSRA:

    * ``features='concat'`` (default): ``[g ; a_1c ; ... ; a_Hc]``, width
      ``(H + 1) D``; :meth:`csra_head_weight` is ``[sum_h u_hc ; lam u_1c ;
      ... ; lam u_Hc]``, so CSRA's logits are kept exactly and a refitted
      head may weigh the pooled and attended parts apart;
    * ``'sum'``: ``[g + lam a_1c ; ... ; g + lam a_Hc]``, width ``H D``.

    Args:
        num_classes (int): C.
        in_channels (int): D, the backbone map's channels.
        num_heads (int): H, one of ``CSRAClsHead.temperature_settings``.
        lam (float): CSRA's lambda (> 0).
        features (str): ``'concat'`` or ``'sum'``.
        init_cfg (dict, optional): Initialisation config.

    Shapes: input a tuple whose last entry is (B, D, H', W'); output a tuple
    with (B, C, :attr:`out_channels`).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_heads: int = 1,
                 lam: float = 0.1,
                 features: str = 'concat',
                 init_cfg=dict(type='Normal', layer='Conv2d', std=0.01)):
        super().__init__(init_cfg=init_cfg)
        temps = CSRAClsHead.temperature_settings.get(num_heads)
        if temps is None:
            raise ValueError(f'CSRANeck: num_heads must be one of '
                             f'{sorted(CSRAClsHead.temperature_settings)}, '
                             f'got {num_heads}')
        if not lam > 0:
            raise ValueError(f'CSRANeck: lam must be > 0, got {lam}')
        if features not in CSRA_FEATURES:
            raise ValueError(f'CSRANeck: features must be one of '
                             f'{CSRA_FEATURES}, got {features!r}')
        self.num_classes, self.in_channels = int(num_classes), int(in_channels)
        self.embed_dims = self.in_channels  # D, as LDRNeck's (per part)
        self.lam, self.features = float(lam), features
        self.csra_heads = ModuleList([
            _AttentionWeights(num_classes, in_channels, t) for t in temps])
        n = len(temps) + 1 if features == 'concat' else len(temps)
        self.out_channels = n * self.in_channels

    def forward(self, inputs: Sequence[torch.Tensor]
                ) -> Tuple[torch.Tensor]:
        """(B, C, out_channels) class features of the last map."""
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        x = x.flatten(2)  # (B, D, P)
        pooled = x.mean(2).unsqueeze(1).expand(-1, self.num_classes, -1)
        att = [h.attend(x) for h in self.csra_heads]
        if self.features == 'concat':
            parts: List[torch.Tensor] = [pooled] + att
        else:
            parts = [pooled + self.lam * a for a in att]
        return (torch.cat(parts, dim=-1), )

    @torch.no_grad()
    def csra_head_weight(self) -> torch.Tensor:
        """(C, out_channels) weight of a group-wise linear head (bias 0)
        that gives exactly CSRA's logits on :meth:`forward`'s features."""
        units = [h.unit_weight() for h in self.csra_heads]
        if self.features == 'concat':
            return torch.cat([sum(units)] + [self.lam * u for u in units], -1)
        return torch.cat(units, -1)
