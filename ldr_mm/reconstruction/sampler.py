"""Reverse sampling of virtual class-aware features (Eqs. 12-14)."""
import warnings
from typing import Optional, Tuple

import torch

from mmpretrain.registry import TASK_UTILS

from .statistics import GaussianStatistics

SAMPLING_MODES = ('reverse', 'uniform', 'natural')


def sampling_probability(positive_counts: torch.Tensor,
                         mode: str = 'reverse',
                         alpha: float = 0.9,
                         eps: float = 1e-9,
                         num_samples: Optional[int] = None,
                         classes=None) -> torch.Tensor:
    """Per-class probability p_c of drawing label 1 (Eq. 12 and ablations).

    * ``'reverse'`` (the paper, Eq. 12): ``p_c = (1 / (F_c + eps))^alpha /
      sum_k (1 / (F_k + eps))^alpha``. The p_c sum to 1 over classes, so each
      is about 1/C and rarer classes get more.
    * ``'uniform'``: ``p_c = 1 / C`` (Eq. 12 with alpha = 0, Table 6).
    * ``'natural'``: ``p_c = F_c / N``, the class's real prevalence in the
      estimated set (N images), i.e. virtual labels as frequent as real ones.

    A class with F_c = 0 has no positive Gaussian to draw from: it gets
    ``p_c = 0`` and is left out of the normalisation of 'reverse' / 'uniform'
    (with eps = 1e-9 it would otherwise take almost all the mass), with a
    warning.

    Args:
        positive_counts (Tensor): (C,) F_c.
        mode (str): 'reverse', 'uniform' or 'natural'.
        alpha (float): Smoothing exponent of 'reverse'. Defaults to 0.9.
        eps (float): Stabiliser of Eq. 12. Defaults to 1e-9.
        num_samples (int | Tensor, optional): N, needed by 'natural'; a
            (C,) tensor gives each class its own N (the samples whose label
            of that class is known, with U-Ignore masks).
        classes (Sequence[str], optional): Names for the warning.

    Returns:
        Tensor: (C,) float64 probabilities.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f'mode must be one of {SAMPLING_MODES}, got '
                         f'{mode!r}')
    F = positive_counts.detach().to(torch.float64).cpu()
    if F.ndim != 1:
        raise ValueError(f'positive_counts must be (C,), got {tuple(F.shape)}')
    present = F > 0
    if not bool(present.all()):
        missing = torch.nonzero(~present).flatten().tolist()
        names = [classes[i] if classes is not None else str(i)
                 for i in missing]
        warnings.warn(f'Classes {names} have no positive sample: no virtual '
                      'positives are drawn for them (p_c = 0).')
    if mode == 'natural':
        N = None if num_samples is None else torch.as_tensor(
            num_samples, dtype=torch.float64).cpu()
        if N is None or not bool((N > 0).any()):
            raise ValueError("mode='natural' needs num_samples > 0")
        return F / N.clamp_min(1)  # N_c = 0 (all masked) has F_c = 0
    if not bool(present.any()):
        return torch.zeros_like(F)
    if mode == 'uniform':
        w = present.to(torch.float64)
    else:
        w = torch.where(present, (1.0 / (F + eps))**alpha,
                        torch.zeros_like(F))
    return w / w.sum()


def gaussian_factor(cov: torch.Tensor, cov_type: str) -> torch.Tensor:
    """A factor L with L L^T = cov, computed in float64.

    'full': batched Cholesky; a matrix that is not numerically positive
    definite falls back to ``V diag(sqrt(max(lambda, 0)))`` from ``eigh``
    (same L L^T up to the clamped negative eigenvalues). 'diag': the standard
    deviations.

    Args:
        cov (Tensor): (..., D, D) or (..., D) for 'diag'.

    Returns:
        Tensor: Same shape as ``cov``, float64.
    """
    cov = cov.to(torch.float64)
    if cov_type == 'diag':
        return cov.clamp_min(0).sqrt()
    L, info = torch.linalg.cholesky_ex(cov)
    bad = info != 0
    if bool(bad.any()):
        evals, evecs = torch.linalg.eigh(cov[bad])
        L[bad] = evecs * evals.clamp_min(0).sqrt().unsqueeze(-2)
    return L


@TASK_UTILS.register_module()
class ReverseSampler:
    """Draw virtual class-aware features and labels (paper Eqs. 12-14).

    For each virtual sample and class c: ``r_c ~ U(0, 1)``; label 1 and
    ``x_c ~ N(mu_c^1, Sigma_c^1)`` if ``r_c <= p_c``, else label 0 and
    ``x_c ~ N(mu_c^0, Sigma_c^0)``; the C features form one virtual
    ``X_class`` (C, D). :meth:`fit` computes p_c and the Gaussian factors
    once per estimate; :meth:`sample` then draws whole batches on the
    device with batched matmuls (no per-sample loop).

    F_c in Eq. 12 are the positive counts of the statistics
    (``stats.counts[:, 1]``): the statistics pass sees every training image
    exactly once, so these are the training set's annotation counts.

    Args:
        mode (str): 'reverse' (paper), 'uniform' or 'natural', see
            :func:`sampling_probability`. Defaults to 'reverse'.
        alpha (float): Eq. 12's exponent. Defaults to 0.9.
        eps (float): Eq. 12's stabiliser. Defaults to 1e-9.
    """

    def __init__(self,
                 mode: str = 'reverse',
                 alpha: float = 0.9,
                 eps: float = 1e-9):
        if mode not in SAMPLING_MODES:
            raise ValueError(f'mode must be one of {SAMPLING_MODES}, got '
                             f'{mode!r}')
        self.mode = mode
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.prob: Optional[torch.Tensor] = None  # (C,) float64
        self._mean = None
        self._factor = None
        self.cov_type = None
        self.num_classes: Optional[int] = None  # C and D, set by fit()
        self.dims: Optional[int] = None

    def fit(self,
            stats: GaussianStatistics,
            device=None,
            dtype: torch.dtype = torch.float32) -> 'ReverseSampler':
        """Compute p_c and the factors from ``stats``.

        Args:
            stats (GaussianStatistics): The estimate.
            device: Where to sample. Defaults to the statistics' device.
            dtype: Dtype of the drawn features. Defaults to float32.
        """
        device = torch.device(device) if device is not None else \
            stats.mean.device
        prob = sampling_probability(
            stats.positive_counts,
            self.mode,
            self.alpha,
            self.eps,
            num_samples=stats.known_counts,
            classes=stats.classes).to(device)
        valid = stats.valid.to(device)
        # A label without samples is never drawn (no NaN mean to sample).
        prob = torch.where(valid[:, 1], prob, torch.zeros_like(prob))
        prob = torch.where(valid[:, 0], prob, torch.ones_like(prob))
        self.prob = prob
        self.cov_type = stats.cov_type
        self._mean = stats.mean.to(device=device, dtype=dtype)
        self._factor = gaussian_factor(stats.cov.to(device),
                                       stats.cov_type).to(dtype)
        self.num_classes, self.dims = stats.num_classes, stats.dims
        return self

    @torch.no_grad()
    def sample(self,
               batch_size: int,
               generator: Optional[torch.Generator] = None
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw a batch of virtual samples.

        Args:
            batch_size (int): B.
            generator (torch.Generator, optional): On the sampling device;
                the only source of randomness (the global RNG is untouched
                when given).

        Returns:
            tuple[Tensor, Tensor]: Features (B, C, D) and 0/1 labels (B, C),
            both in the sampling dtype.
        """
        if self._mean is None:
            raise RuntimeError('ReverseSampler.sample() before fit()')
        mean, L = self._mean, self._factor
        C, D = self.num_classes, self.dims
        dev, dtype = mean.device, mean.dtype
        r = torch.rand(
            batch_size, C, generator=generator, device=dev,
            dtype=torch.float64)
        y = r <= self.prob  # (B, C)
        z = torch.randn(
            batch_size, C, D, generator=generator, device=dev, dtype=dtype)
        if self.cov_type == 'diag':
            idx = y.long().unsqueeze(-1).unsqueeze(-1).expand(-1, -1, 1, D)
            mu = mean.unsqueeze(0).expand(batch_size, -1, -1, -1).gather(
                2, idx).squeeze(2)
            sd = L.unsqueeze(0).expand(batch_size, -1, -1, -1).gather(
                2, idx).squeeze(2)
            return mu + sd * z, y.to(dtype)
        # Both labels' x = mu + L z for all (c, b) as two batched matmuls
        # over classes, then keep the drawn label's: bounded memory
        # (C, B, D), no (B, C, D, D) gather of factors.
        zc = z.transpose(0, 1)  # (C, B, D)
        x0 = torch.baddbmm(mean[:, 0:1], zc, L[:, 0].transpose(1, 2))
        x1 = torch.baddbmm(mean[:, 1:2], zc, L[:, 1].transpose(1, 2))
        x = torch.where(y.t().unsqueeze(-1), x1, x0).transpose(0, 1)
        return x.contiguous(), y.to(dtype)

    @torch.no_grad()
    def sample_class(self,
                     class_index: int,
                     num_samples: int,
                     generator: Optional[torch.Generator] = None
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Draw virtual features of one class only (the same law as the
        class's column of :meth:`sample`, in memory (N, D) instead of
        (N, C, D): what a per-class solver needs).

        Args:
            class_index (int): c.
            num_samples (int): N.
            generator (torch.Generator, optional): As in :meth:`sample`.

        Returns:
            tuple[Tensor, Tensor]: Features (N, D) and 0/1 labels (N,).
        """
        if self._mean is None:
            raise RuntimeError('ReverseSampler.sample_class() before fit()')
        c = int(class_index)
        mean, L = self._mean[c], self._factor[c]  # (2, D), (2, D[, D])
        dev, dtype = mean.device, mean.dtype
        r = torch.rand(
            num_samples, generator=generator, device=dev,
            dtype=torch.float64)
        y = r <= self.prob[c]
        z = torch.randn(
            num_samples, self.dims, generator=generator, device=dev,
            dtype=dtype)
        x = torch.empty_like(z)
        for j in (0, 1):  # each row through its own label's factor only
            sel = y if j else ~y
            x[sel] = (mean[j] + L[j] * z[sel] if self.cov_type == 'diag' else
                      torch.addmm(mean[j], z[sel], L[j].t()))
        return x, y.to(dtype)
