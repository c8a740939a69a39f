"""Class-conditional Gaussian statistics of class-aware features (Eqs. 9-10).

For every class c and label j in {0, 1} (j = 1: the image has finding c) we
estimate the mean and covariance of the class-aware feature ``X_class[:, c]``
(width D) over the training set. :class:`GaussianAccumulator` keeps running
float64 sums -- n (C, 2), sum x (C, 2, D) and sum x x^T (C, 2, D, D), or the
sum of squares (C, 2, D) for ``cov_type='diag'`` -- so memory does not grow
with the dataset, and the sums of N ranks add up to the single-process ones
(:meth:`GaussianAccumulator.all_reduce`). :meth:`GaussianAccumulator.compute`
turns them into :class:`GaussianStatistics` with a defined answer for every
(c, j), see "Regularisation" below and ``docs/stage2.md``.

Regularisation (per class c and label j, n = n_c^j, S = unbiased sample
covariance, Eq. 10)::

    Sigma = (1 - lam) * S + lam * diag(S) + ridge * max(tr(S) / D, 1e-12) * I

* ``shrinkage='auto'`` uses ``lam = D / (n + D)``: almost none for n >> D,
  mostly diagonal for a rank-deficient (n <= D) tail class.
  ``shrinkage='pooled'`` uses ``lam = D / (n_c^0 + n_c^1 + D)`` for both
  labels of class c: the rule for the covariance Fisher's LDA actually uses,
  the within-class pooled one, whose sample size is every image with a known
  label of c (the 'lda' M-step with ``pooling='weighted'``). A float fixes
  ``lam`` for every group. ``cov_type='diag'`` keeps only ``diag(S)``
  (+ ridge).
* ``ridge`` (relative to the mean variance) makes Sigma positive definite even
  with constant feature dimensions.
* n == 1: the mean is that one feature; S is replaced by the same class's
  other-label S if that has n >= 2, else by the pooled within-group
  covariance of all (c, j) with n >= 2, else the identity; logged.
* n == 0: nothing to estimate. ``valid[c, j] = False``, the mean is zero and
  the covariance the fallback above (finite placeholders, never NaN); the
  sampler never draws label j for class c. Logged.

File format written by :meth:`GaussianStatistics.save` (the stage-2 loop
writes ``work_dir/reconstruction/stats_round{r}.pth`` for round r = 1, 2,
... as the log counts them; read it
with :meth:`GaussianStatistics.load` or ``torch.load(path,
weights_only=True)``), a dict of:

=====================  =======================================================
``version``            int, 1
``cov_type``           'full' or 'diag'
``classes``            list[str] or None, the class names in index order
``counts``             int64 (C, 2): n_c^j; ``counts[:, 1]`` = positives F_c
``mean``               float64 (C, 2, D): mu_c^j
``cov``                float64 (C, 2, D, D), the regularised Sigma_c^j that
                       is sampled (``cov_type='full'``), or
``var``                float64 (C, 2, D), its diagonal (``cov_type='diag'``)
``shrinkage``          float64 (C, 2): lam applied (0 for 'diag'; for a
                       fallback, the lam of the covariance it borrowed)
``ridge``              float64 (C, 2): absolute value added to the diagonal
``valid``              bool (C, 2): False where n == 0
``regularisation``     list[dict]: one entry per (c, j) that was fallen back
                       or is rank-deficient: ``class``, ``label``, ``n``,
                       ``action`` (a sentence)
``extra``              dict: written by the caller (round, sampling
                       probabilities p_c, sampler mode, seed, ...)
=====================  =======================================================

The unregularised S can be recovered for n >= 2 and lam < 1 ('full'):
off-diagonal ``S = Sigma / (1 - lam)``, ``diag(S) = diag(Sigma) - ridge``.
"""
import dataclasses
from typing import Dict, List, Optional, Sequence, Union

import torch

from ldr_mm.utils.fileio import atomic_torch_save

FORMAT_VERSION = 1
COV_TYPES = ('full', 'diag')


def _check_cov_type(cov_type: str) -> str:
    if cov_type not in COV_TYPES:
        raise ValueError(f"cov_type must be 'full' or 'diag', got "
                         f'{cov_type!r}')
    return cov_type


class GaussianAccumulator:
    """Running float64 sums for per-class, per-label Gaussians.

    Args:
        num_classes (int): C.
        dims (int): D, the class-aware feature width.
        cov_type (str): 'full' (sum x x^T, C x 2 x D x D floats) or 'diag'
            (sum of squares, C x 2 x D). Defaults to 'full'.
        device (torch.device | str, optional): Where the sums live (the
            model's device). Defaults to CPU.
        buffer_size (int): For 'full', features are buffered (in their own
            dtype) and added to sum x x^T once per ``buffer_size``
            samples (one matmul per class and label over that group's own
            samples, :func:`_add_weighted_outer_products`): a
            read-modify-write of the
            C x 2 x D x D sums (940 MB for C=14, D=2048) per small batch
            would cost more than the model's forward. The buffer is bounded
            (``buffer_size * C * D`` values), so memory stays independent of
            the dataset size. Defaults to 256.

    :meth:`scale_` (an exponential moving average's decay, once per
    training iteration in ``OnlineReconstructionHook``) does not touch the
    full sums either: n and sum x are scaled at once (C x 2 x D values),
    the buffered samples' weights are scaled, and the decay of sum x x^T is
    kept as a pending factor that the next flush applies in the same
    matmul (``beta``). The sums seen by :meth:`compute`,
    :meth:`state_dict` and :meth:`all_reduce` (which all flush first) are
    those of decaying eagerly.
    """

    def __init__(self,
                 num_classes: int,
                 dims: int,
                 cov_type: str = 'full',
                 device: Optional[Union[str, torch.device]] = None,
                 buffer_size: int = 256):
        self.num_classes = int(num_classes)
        self.dims = int(dims)
        self.cov_type = _check_cov_type(cov_type)
        self.device = torch.device(device or 'cpu')
        C, D = self.num_classes, self.dims
        kw = dict(dtype=torch.float64, device=self.device)
        self.n = torch.zeros(C, 2, **kw)
        self.s = torch.zeros(C, 2, D, **kw)
        if cov_type == 'full':
            self.ss = torch.zeros(C, 2, D, D, **kw)
        else:
            self.ss = torch.zeros(C, 2, D, **kw)
        self.buffer_size = max(1, int(buffer_size))
        self._buf_x: List[torch.Tensor] = []
        self._buf_y: List[torch.Tensor] = []
        self._buffered = 0
        # sum x x^T = _decay * ss + the buffered samples' weighted x x^T
        self._decay = 1.0

    def nbytes(self) -> int:
        """Memory of the sums plus the largest possible buffer, in bytes
        (independent of N)."""
        sums = sum(t.numel() * t.element_size()
                   for t in (self.n, self.s, self.ss))
        if self.cov_type == 'full':
            # float32 features and float64 labels, at most buffer_size + one
            # batch; the flush's float64 copies of the buffered features
            per = self.num_classes * (self.dims * (4 + 2 * 8 * 2) + 8)
            sums += per * self.buffer_size
        return sums

    @torch.no_grad()
    def update(self, feats: torch.Tensor, labels: torch.Tensor,
               mask: Optional[torch.Tensor] = None) -> None:
        """Add a batch.

        Args:
            feats (Tensor): (B, C, D) class-aware features, any float dtype.
            labels (Tensor): (B, C), 1 / True for positive, 0 / False for
                negative.
            mask (Tensor, optional): (B, C) 0/1, U-Ignore's ``gt_mask``: 1
                where the label is known. A masked (0) entry of class c
                adds nothing to class c's sums (neither label's n, mean nor
                covariance); the sample still counts for its other classes.
                None: every label is known.
        """
        C, D = self.num_classes, self.dims
        if feats.ndim != 3 or feats.shape[1:] != (C, D):
            raise ValueError(f'Expected features (B, {C}, {D}), got '
                             f'{tuple(feats.shape)}')
        B = feats.shape[0]
        if labels.shape != (B, C):
            raise ValueError(f'Expected labels ({B}, {C}), got '
                             f'{tuple(labels.shape)}')
        if mask is not None and mask.shape != (B, C):
            raise ValueError(f'Expected mask ({B}, {C}), got '
                             f'{tuple(mask.shape)}')
        if B == 0:
            return
        x = feats.detach().to(self.device, torch.float64)
        y = labels.detach().to(self.device, torch.float64)
        w = torch.stack([1 - y, y], dim=-1)  # (B, C, 2) one-hot over labels
        if mask is not None:  # a masked entry is in neither group
            w = w * mask.detach().to(self.device, torch.float64)[..., None]
        self.n += w.sum(0)
        self.s += torch.einsum('bcj,bcd->cjd', w, x)
        if self.cov_type == 'full':
            self._buf_x.append(feats.detach().to(self.device))
            self._buf_y.append(w)
            self._buffered += B
            if self._buffered >= self.buffer_size:
                self._flush()
        else:
            self.ss += torch.einsum('bcj,bcd->cjd', w, x * x)

    def _flush(self) -> None:
        """Apply the pending decay to sum x x^T and add the buffered
        features (float64), one read-modify-write of the sums."""
        decay, self._decay = self._decay, 1.0
        if not self._buffered:
            _decay_(self.ss, decay)
            return
        x = torch.cat(self._buf_x)  # (B, C, D), the features' dtype
        w = torch.cat(self._buf_y)  # (B, C, 2)
        self._buf_x, self._buf_y, self._buffered = [], [], 0
        _add_weighted_outer_products(self.ss, x, w, decay)

    def scale_(self, factor: float) -> None:
        """Multiply the sums (buffered features included) by ``factor``:
        an exponential moving average's decay, or 0 to start afresh.

        O(C x D + buffered samples x C): sum x x^T ('full') is not read;
        its decay is applied by the next flush (see the class docstring).
        """
        factor = float(factor)
        self.n.mul_(factor)
        self.s.mul_(factor)
        if self.cov_type != 'full':
            self.ss.mul_(factor)
        elif factor == 0.0:  # the buffer would add nothing
            self._buf_x, self._buf_y, self._buffered = [], [], 0
            self._decay = 0.0
        else:
            for w in self._buf_y:
                w.mul_(factor)
            self._decay *= factor

    def all_reduce(self) -> None:
        """Sum the running sums over all ranks (no-op without dist)."""
        from mmengine.dist import all_reduce, get_world_size
        self._flush()
        if get_world_size() > 1:
            for t in (self.n, self.s, self.ss):
                all_reduce(t, op='sum')

    def state_dict(self) -> Dict[str, torch.Tensor]:
        self._flush()
        return dict(n=self.n, s=self.s, ss=self.ss, cov_type=self.cov_type)

    def compute(self,
                shrinkage: Union[str, float] = 'auto',
                ridge: float = 1e-3,
                classes: Optional[Sequence[str]] = None
                ) -> 'GaussianStatistics':
        """Means and regularised covariances (see the module docstring).

        Four named steps: :func:`_unbiased_covariance`,
        :func:`_pooled_covariance` (the fallback), :func:`_borrow_for_small_
        groups` (n < 2) and :func:`_shrink_and_ridge`.

        Args:
            shrinkage ('auto' | 'pooled' | float): lam = D / (n + D) per
                group, D / (n_c^0 + n_c^1 + D) per class, or a fixed value
                in [0, 1]. Ignored for ``cov_type='diag'``.
            ridge (float): Relative ridge (>= 0).
            classes (Sequence[str], optional): Class names, for the log and
                the file.

        Returns:
            GaussianStatistics: float64, on the accumulator's device.
        """
        if not (shrinkage in ('auto', 'pooled') or
                (isinstance(shrinkage, (int, float))
                 and not isinstance(shrinkage, bool)
                 and 0 <= shrinkage <= 1)):
            raise ValueError("shrinkage must be 'auto', 'pooled' or a number "
                             f'in [0, 1], got {shrinkage!r}')
        if ridge < 0:
            raise ValueError(f'ridge must be >= 0, got {ridge}')
        self._flush()
        C, D = self.num_classes, self.dims
        names = list(classes) if classes is not None else [
            str(c) for c in range(C)
        ]
        if len(names) != C:
            raise ValueError(f'{len(names)} class names for {C} classes')
        full = self.cov_type == 'full'
        n = self.n
        counts = n.round().long()
        mean = self.s / n.clamp_min(1).unsqueeze(-1)  # (C, 2, D); 0 if n == 0
        S = _unbiased_covariance(self.ss, n, mean, full)
        enough = counts >= 2
        pooled, pooled_desc, dof = _pooled_covariance(S, n, enough, full)
        n_eff, log = _borrow_for_small_groups(S, n, counts, pooled,
                                              pooled_desc, dof, names)
        lam, ridge_abs = _shrink_and_ridge(S, n_eff, shrinkage, ridge, full)
        log += _deficiency_log(counts, lam, ridge_abs, D, full, names)
        log.sort(key=lambda e: (e['class_index'], e['label']))
        return GaussianStatistics(
            cov_type=self.cov_type,
            counts=counts,
            mean=mean,
            cov=S,
            shrinkage=lam,
            ridge=ridge_abs,
            valid=counts > 0,
            regularisation=log,
            classes=list(classes) if classes is not None else None)


def _decay_(t: torch.Tensor, beta: float) -> None:
    """``t *= beta`` in place, as ``addmm``'s ``beta``: 0 starts afresh
    (``zero_``, so old NaN or inf do not survive), 1 touches nothing."""
    if beta == 0.0:
        t.zero_()
    elif beta != 1.0:
        t.mul_(beta)


def _add_weighted_outer_products(ss: torch.Tensor, x: torch.Tensor,
                                 w: torch.Tensor, beta: float) -> None:
    """``ss[c, j] = beta * ss[c, j] + sum_b w[b, c, j] x[b, c] x[b, c]^T``,
    in place, from the samples with a nonzero weight only.

    The label weights are one-hot (times the U-Ignore mask and the EMA's
    decay), so each sample is in one label of each class, or in none: a
    product over all B samples for both labels would spend half of its
    multiply-adds on zero weights. Instead the rows of each (c, j) are
    gathered (a stable sort puts them first, in buffer order) and multiplied
    alone: one matmul per group, 2 x C in all, whose inner sizes add up to
    the nonzero weights (B per class for unmasked labels). Any weights are
    honoured (a sample with two nonzero weights enters both groups).
    Float64 products; one read-modify-write of each (c, j) block (``beta``
    0 ignores the old sums, as ``addmm``'s ``beta`` does). One host sync on
    GPU (the group sizes).

    Args:
        ss (Tensor): (C, 2, D, D) float64 sums, updated in place.
        x (Tensor): (B, C, D) features, any float dtype.
        w (Tensor): (B, C, 2) float64 weights.
        beta (float): Factor applied to the old sums (the pending decay).
    """
    nonzero = w != 0
    sizes = nonzero.sum(0).tolist()  # (C, 2) group sizes
    first = torch.sort(nonzero.to(torch.uint8), dim=0, descending=True,
                       stable=True).indices  # (B, C, 2)
    for c, row in enumerate(sizes):
        for j, k in enumerate(row):
            block = ss[c, j]
            if k == 0:  # no sample: only the decay
                _decay_(block, beta)
                continue
            idx = first[:k, c, j]
            xg = x[idx, c].to(torch.float64)  # (k, D)
            xw = xg * w[idx, c, j].unsqueeze(-1)
            block.addmm_(xw.t(), xg, beta=beta)


def _unbiased_covariance(ss: torch.Tensor, n: torch.Tensor,
                         mean: torch.Tensor, full: bool) -> torch.Tensor:
    """Unbiased S (C, 2, D, D) or variances (C, 2, D) from the sums; S is
    meaningful where n >= 2 (divided by max(n - 1, 1) elsewhere).

    The scatter ``sum (x - mu)(x - mu)^T = ss - n mu mu^T`` is computed in
    place on one copy of the sums (no further C x 2 x D x D temporaries).
    """
    C, D = mean.shape[0], mean.shape[-1]
    if full:
        scatter = ss.clone()
        flat = scatter.view(C * 2, D, D)
        mu = mean.reshape(C * 2, D, 1)
        flat.baddbmm_(mu * -n.reshape(C * 2, 1, 1), mu.transpose(1, 2))
        for g in range(C * 2):  # exact symmetry, D x D temporaries only
            flat[g] = (flat[g] + flat[g].t()) / 2
        scatter_diag = scatter.diagonal(dim1=-2, dim2=-1)
    else:
        scatter = ss - n.unsqueeze(-1) * mean * mean
        scatter_diag = scatter
    scatter_diag.clamp_(min=0)  # rounding can make tiny negatives
    denom = (n - 1).clamp_min(1)
    scatter /= (denom[..., None, None] if full else denom[..., None])
    return scatter


def _pooled_covariance(S: torch.Tensor, n: torch.Tensor,
                       enough: torch.Tensor, full: bool):
    """The pooled within-group covariance of the groups with n >= 2 (the
    fallback for n < 2), else the identity.

    Returns:
        tuple: pooled (D, D) or (D,), its description for the log, and its
        degrees of freedom.
    """
    dof = ((n - 1) * enough).sum()
    if dof > 0:
        wts = ((n - 1) * enough).flatten()
        flat = S.reshape(-1, *S.shape[2:])
        pooled = torch.einsum('g,g...->...', wts, flat) / dof
        return pooled, (f'the pooled within-group covariance '
                        f'({int(dof)} degrees of freedom)'), dof
    D, kw = S.shape[-1], dict(dtype=torch.float64, device=S.device)
    pooled = torch.eye(D, **kw) if full else torch.ones(D, **kw)
    return pooled, 'the identity (no group has n >= 2)', dof


def _borrow_for_small_groups(S, n, counts, pooled, pooled_desc, dof,
                             names) -> tuple:
    """Give every (c, j) with n < 2 a covariance, in place: the same
    class's other label if that has n >= 2, else ``pooled``.

    Returns:
        tuple: n_eff (C, 2), the sample size behind each S (for the
        shrinkage of fallbacks), and the log entries.
    """
    enough = counts >= 2
    log: List[dict] = []
    n_eff = n.clone()
    for c, j in (~enough).nonzero().tolist():
        k = int(counts[c, j])
        other = 1 - j
        if enough[c, other]:
            S[c, j] = S[c, other]
            n_eff[c, j] = n[c, other]
            src = (f'the covariance of label {other} of the same class '
                   f'(n={int(counts[c, other])})')
        else:
            S[c, j] = pooled
            n_eff[c, j] = float(dof) + 1
            src = pooled_desc
        if k == 0:
            action = ('no samples: never sampled; mean set to 0 and '
                      f'covariance to {src} as placeholders')
        else:
            action = (f'1 sample: mean = that sample, covariance = {src}')
        log.append(dict(class_index=c, label=j, n=k, action=action))
        log[-1]['class'] = names[c]
    return n_eff, log


def _deficiency_log(counts, lam, ridge_abs, D: int, full: bool,
                    names) -> List[dict]:
    """Log entries of the rank-deficient groups (2 <= n <= D)."""
    log = []
    for c, j in ((counts >= 2) & (counts <= D)).nonzero().tolist():
        k = int(counts[c, j])
        if full:
            action = (f'rank-deficient (n={k} <= D={D}): shrinkage '
                      f'{float(lam[c, j]):.3f} toward the diagonal + '
                      f'ridge {float(ridge_abs[c, j]):.3g}')
        else:
            action = (f'n={k} <= D={D}: diagonal covariance + ridge '
                      f'{float(ridge_abs[c, j]):.3g}')
        log.append(dict(class_index=c, label=j, n=k, action=action,
                        **{'class': names[c]}))
    return log


def _shrink_and_ridge(S, n_eff, shrinkage, ridge: float, full: bool):
    """Shrink toward the diagonal and add the relative ridge, in place.

    Returns:
        tuple: lam (C, 2) and the absolute ridge (C, 2).
    """
    D = S.shape[-1]
    if not full:
        lam = torch.zeros_like(n_eff)
    elif shrinkage == 'auto':
        lam = D / (n_eff + D)
    elif shrinkage == 'pooled':
        lam = (D / (n_eff.sum(-1, keepdim=True) + D)).expand_as(n_eff).clone()
    else:
        lam = torch.full_like(n_eff, float(shrinkage))
    if full:
        diag = S.diagonal(dim1=-2, dim2=-1).clone()
        S.mul_((1 - lam)[..., None, None])
        S.diagonal(dim1=-2, dim2=-1).copy_(diag)
        var = diag
    else:
        var = S
    ridge_abs = ridge * (var.mean(-1)).clamp_min(1e-12)  # (C, 2)
    if full:
        S.diagonal(dim1=-2, dim2=-1).add_(ridge_abs.unsqueeze(-1))
    else:
        S.add_(ridge_abs.unsqueeze(-1))
    return lam, ridge_abs


@dataclasses.dataclass(eq=False)
class GaussianStatistics:
    """Per-class, per-label Gaussians: what the reverse sampler draws from.

    Attributes:
        cov_type (str): 'full' or 'diag'.
        counts (LongTensor): (C, 2) n_c^j.
        mean (Tensor): (C, 2, D) float64.
        cov (Tensor): (C, 2, D, D) ('full') or (C, 2, D) variances ('diag'),
            float64, regularised.
        shrinkage, ridge (Tensor): (C, 2) float64, see the module docstring.
        valid (BoolTensor): (C, 2), False where n == 0.
        regularisation (list[dict]): The log of fallbacks and rank-deficient
            groups.
        classes (list[str] | None): Class names.
        extra (dict): Anything the caller adds (round, p_c, seed, ...).
    """

    cov_type: str
    counts: torch.Tensor
    mean: torch.Tensor
    cov: torch.Tensor
    shrinkage: torch.Tensor
    ridge: torch.Tensor
    valid: torch.Tensor
    regularisation: List[dict]
    classes: Optional[List[str]] = None
    extra: Optional[dict] = None

    def __post_init__(self):
        self.cov_type = _check_cov_type(self.cov_type)
        self.extra = dict(self.extra or {})

    @property
    def num_classes(self) -> int:
        return self.mean.shape[0]

    @property
    def dims(self) -> int:
        return self.mean.shape[-1]

    @property
    def positive_counts(self) -> torch.Tensor:
        """F_c (C,): positives of each class in the estimated set."""
        return self.counts[:, 1]

    @property
    def num_samples(self) -> int:
        """Images in the estimated set: the most known labels of any class
        (every class's count when there are no U-Ignore masks)."""
        return int(self.counts.sum(-1).max())

    @property
    def known_counts(self) -> torch.Tensor:
        """(C,) samples whose label of class c is known (not masked)."""
        return self.counts.sum(-1)

    def variances(self) -> torch.Tensor:
        """(C, 2, D) diagonal of the covariances."""
        if self.cov_type == 'full':
            return self.cov.diagonal(dim1=-2, dim2=-1)
        return self.cov

    def to(self, device) -> 'GaussianStatistics':
        tensors = {
            k: getattr(self, k).to(device)
            for k in ('counts', 'mean', 'cov', 'shrinkage', 'ridge', 'valid')
        }
        return GaussianStatistics(
            self.cov_type,
            regularisation=self.regularisation,
            classes=self.classes,
            extra=self.extra,
            **tensors)

    def to_dict(self) -> dict:
        """The file format of the module docstring (tensors on CPU)."""
        out = dict(
            version=FORMAT_VERSION,
            cov_type=self.cov_type,
            classes=self.classes,
            counts=self.counts.cpu(),
            mean=self.mean.cpu(),
            shrinkage=self.shrinkage.cpu(),
            ridge=self.ridge.cpu(),
            valid=self.valid.cpu(),
            regularisation=[dict(e) for e in self.regularisation],
            extra=dict(self.extra))
        out['cov' if self.cov_type == 'full' else 'var'] = self.cov.cpu()
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = 'statistics') -> \
            'GaussianStatistics':
        if d.get('version') != FORMAT_VERSION:
            raise ValueError(f'{where}: unsupported statistics format version '
                             f'{d.get("version")!r} (expected '
                             f'{FORMAT_VERSION})')
        key = 'cov' if d['cov_type'] == 'full' else 'var'
        return cls(
            cov_type=d['cov_type'],
            counts=d['counts'],
            mean=d['mean'],
            cov=d[key],
            shrinkage=d['shrinkage'],
            ridge=d['ridge'],
            valid=d['valid'],
            regularisation=list(d.get('regularisation', [])),
            classes=d.get('classes'),
            extra=d.get('extra'))

    def save(self, path: str) -> None:
        """Write the file format above atomically."""
        atomic_torch_save(self.to_dict(), path)

    @classmethod
    def load(cls, path: str) -> 'GaussianStatistics':
        """Read a file written by :meth:`save` (weights-only loading)."""
        from ldr_mm.utils.checkpoint import safe_load_checkpoint
        return cls.from_dict(safe_load_checkpoint(path), where=path)
