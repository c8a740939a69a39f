"""Class-conditional Gaussian statistics against numpy references."""
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils._python_dispatch import TorchDispatchMode

import stage2_helpers  # noqa: F401
from ldr_mm.reconstruction import GaussianAccumulator, GaussianStatistics


def random_features(N=300, C=4, D=6, seed=0):
    rng = np.random.default_rng(seed)
    # correlated features with a label-dependent mean and a large offset
    # (tests the numerics of sum x x^T - n mu mu^T)
    A = rng.normal(size=(C, D, D))
    x = np.einsum('ncd,ced->nce', rng.normal(size=(N, C, D)), A) + 5.0
    y = (rng.random((N, C)) < np.linspace(0.5, 0.1, C)).astype(np.int64)
    x = x + 2.0 * y[..., None]
    return x, y


def numpy_stats(x, y):
    C = x.shape[1]
    mean = np.zeros((C, 2, x.shape[2]))
    cov = np.zeros((C, 2, x.shape[2], x.shape[2]))
    for c in range(C):
        for j in (0, 1):
            sel = x[y[:, c] == j, c]
            mean[c, j] = sel.mean(0)
            cov[c, j] = np.cov(sel, rowvar=False)  # unbiased, Eq. 10
    return mean, cov


def uneven_batches(N, seed=0):
    rng = np.random.default_rng(seed)
    cuts = np.sort(rng.choice(np.arange(1, N), size=7, replace=False))
    return np.split(np.arange(N), cuts)


@pytest.mark.parametrize('cov_type,buffer_size', [('full', 256),
                                                   ('full', 1),
                                                   ('full', 50),
                                                   ('diag', 256)])
def test_matches_numpy_with_uneven_batches(cov_type, buffer_size):
    x, y = random_features()
    acc = GaussianAccumulator(4, 6, cov_type=cov_type,
                              buffer_size=buffer_size)
    for idx in uneven_batches(len(x)):
        acc.update(torch.from_numpy(x[idx]).float(), torch.from_numpy(y[idx]))
    acc.update(torch.zeros(0, 4, 6), torch.zeros(0, 4))  # empty batch: ok
    st = acc.compute(shrinkage=0.0, ridge=0.0)
    mean, cov = numpy_stats(x.astype(np.float32).astype(np.float64), y)
    np.testing.assert_array_equal(st.counts[:, 1].numpy(), y.sum(0))
    np.testing.assert_array_equal(st.counts[:, 0].numpy(), (1 - y).sum(0))
    np.testing.assert_allclose(st.mean.numpy(), mean, rtol=1e-12, atol=1e-12)
    if cov_type == 'full':
        np.testing.assert_allclose(st.cov.numpy(), cov, rtol=1e-9,
                                   atol=1e-10)
    else:
        np.testing.assert_allclose(
            st.cov.numpy(), np.diagonal(cov, axis1=-2, axis2=-1),
            rtol=1e-9, atol=1e-10)
    assert st.regularisation == []  # n > D everywhere: nothing to log
    assert st.valid.all()


def test_shrinkage_and_ridge_formula():
    x, y = random_features(N=400, C=3, D=5, seed=1)
    acc = GaussianAccumulator(3, 5)
    acc.update(torch.from_numpy(x), torch.from_numpy(y))
    _, S = numpy_stats(x, y)
    n = np.stack([(1 - y).sum(0), y.sum(0)], -1)
    for shrinkage, ridge in (('auto', 1e-3), (0.3, 0.1), ('pooled', 1e-3)):
        st = acc.compute(shrinkage=shrinkage, ridge=ridge)
        for c in range(3):
            for j in (0, 1):
                lam = {'auto': 5 / (n[c, j] + 5),
                       'pooled': 5 / (n[c].sum() + 5)}.get(shrinkage,
                                                           shrinkage)
                d = np.diag(np.diag(S[c, j]))
                r = ridge * np.trace(S[c, j]) / 5
                expect = (1 - lam) * S[c, j] + lam * d + r * np.eye(5)
                np.testing.assert_allclose(st.cov[c, j].numpy(), expect,
                                           rtol=1e-9)
                assert float(st.shrinkage[c, j]) == pytest.approx(lam)
                assert float(st.ridge[c, j]) == pytest.approx(r)


def test_rank_deficient_and_tiny_groups_are_defined_and_logged():
    D = 8
    rng = np.random.default_rng(3)
    N = 20
    x = rng.normal(size=(N, 3, D))
    y = np.zeros((N, 3), dtype=np.int64)
    y[:5, 0] = 1  # class 0: 5 positives (< D, rank-deficient)
    y[0, 1] = 1  # class 1: one positive
    # class 2: no positive at all
    acc = GaussianAccumulator(3, D)
    acc.update(torch.from_numpy(x), torch.from_numpy(y))
    st = acc.compute(classes=['a', 'b', 'c'])
    for t in (st.mean, st.cov, st.shrinkage, st.ridge):
        assert torch.isfinite(t).all()
    # every covariance is symmetric positive definite
    evals = torch.linalg.eigvalsh(st.cov)
    assert (evals > 0).all()
    log = {(e['class'], e['label']): e for e in st.regularisation}
    assert 'rank-deficient' in log[('a', 1)]['action']
    assert log[('b', 1)]['n'] == 1 and '1 sample' in log[('b', 1)]['action']
    assert 'label 0 of the same class' in log[('b', 1)]['action']
    assert log[('c', 1)]['n'] == 0 and 'never sampled' in \
        log[('c', 1)]['action']
    assert st.valid.tolist() == [[True, True], [True, True], [True, False]]
    # n == 1: the mean is the sample, the covariance borrowed (+ same ridge
    # rule), the class's negatives keep their own
    np.testing.assert_allclose(st.mean[1, 1].numpy(), x[0, 1])
    np.testing.assert_allclose(st.cov[1, 1].numpy(), st.cov[1, 0].numpy())
    assert float(st.shrinkage[0, 1]) == pytest.approx(D / (5 + D))


def test_nothing_estimable_falls_back_to_identity():
    acc = GaussianAccumulator(2, 3)
    acc.update(torch.randn(1, 2, 3), torch.tensor([[1, 0]]))
    st = acc.compute()
    assert torch.isfinite(st.cov).all()
    assert 'identity' in st.regularisation[0]['action']


def test_memory_is_independent_of_dataset_size():
    held = []
    for N in (100, 1000):
        acc = GaussianAccumulator(5, 16, buffer_size=64)
        peak = 0
        for _ in range(N // 10):
            acc.update(torch.randn(10, 5, 16), torch.randint(0, 2, (10, 5)))
            tensors = [acc.n, acc.s, acc.ss] + acc._buf_x + acc._buf_y
            peak = max(peak, sum(t.numel() * t.element_size()
                                 for t in tensors))
        assert peak <= acc.nbytes()
        held.append((peak, acc.nbytes()))
    sums = 8 * (5 * 2 + 5 * 2 * 16 + 5 * 2 * 16 * 16)
    assert held[0] == held[1]  # same peak for 10x the samples
    assert held[1][0] > sums  # the bounded buffer is counted


def test_shape_errors():
    acc = GaussianAccumulator(3, 4)
    with pytest.raises(ValueError, match=r'\(B, 3, 4\)'):
        acc.update(torch.randn(2, 3, 5), torch.zeros(2, 3))
    with pytest.raises(ValueError, match='labels'):
        acc.update(torch.randn(2, 3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match='cov_type'):
        GaussianAccumulator(3, 4, cov_type='spherical')
    with pytest.raises(ValueError, match='shrinkage'):
        acc.compute(shrinkage=1.5)
    with pytest.raises(ValueError, match="'auto', 'pooled' or a number"):
        acc.compute(shrinkage='ledoit')


@pytest.mark.parametrize('cov_type', ['full', 'diag'])
def test_save_load_roundtrip(tmp_path, cov_type):
    x, y = random_features(N=50)
    acc = GaussianAccumulator(4, 6, cov_type=cov_type)
    acc.update(torch.from_numpy(x), torch.from_numpy(y))
    st = acc.compute(classes=list('abcd'))
    st.extra['round'] = 2
    path = str(tmp_path / 'r' / 'stats.pth')
    st.save(path)
    raw = torch.load(path, weights_only=True)  # plain tensors and lists
    assert raw['version'] == 1 and raw['classes'] == list('abcd')
    assert ('cov' in raw) == (cov_type == 'full')
    back = GaussianStatistics.load(path)
    for k in ('counts', 'mean', 'cov', 'shrinkage', 'ridge', 'valid'):
        assert torch.equal(getattr(back, k), getattr(st, k)), k
    assert back.regularisation == st.regularisation
    assert back.extra == {'round': 2}


def _eager_ema_reference(batches, decay, full):
    """The EMA decayed eagerly, in float64: before every batch (x, w) the
    sums are multiplied by ``decay[i]``; w (B, C, 2) are the label weights
    (one-hot of the label, times the mask)."""
    x0, w0 = batches[0]
    C, D = x0.shape[1:]
    n, s = torch.zeros(C, 2, dtype=torch.float64), torch.zeros(
        C, 2, D, dtype=torch.float64)
    ss = torch.zeros((C, 2, D, D) if full else (C, 2, D),
                     dtype=torch.float64)
    out = []
    for (x, w), f in zip(batches, decay):
        x = x.double()
        n, s, ss = n * f, s * f, ss * f
        n = n + w.sum(0)
        s = s + torch.einsum('bcj,bcd->cjd', w, x)
        xx = (torch.einsum('bcd,bce->bcde', x, x) if full else x * x)
        ss = ss + torch.einsum('bcj,bc...->cj...', w, xx)
        out.append((n, s, ss))
    return out


def _ema_batches(iters=60, C=3, D=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for i in range(iters):
        B = int(torch.randint(1, 8, (1, ), generator=g))
        x = torch.randn(B, C, D, generator=g) * 3 + 5  # float32 features
        y = torch.rand(B, C, generator=g) < 0.3
        mask = (torch.rand(B, C, generator=g) < 0.9).double()
        batches.append((x, y, mask))
    return batches


def _weights(y, mask):
    y = y.double()
    return torch.stack([1 - y, y], dim=-1) * mask[..., None]


@pytest.mark.parametrize('cov_type', ['full', 'diag'])
def test_lazy_ema_equals_the_eager_ema_with_flushes_reads_and_resume(
        cov_type):
    """scale_(0.9) before every batch (the one-stage EMA), 60 batches of 1-7
    samples through a 16-sample buffer (flushes inside and between
    batches), the sums read (compute / state_dict / all_reduce flush them)
    at several iterations, two resets (scale_(0), the per-epoch mode and
    ranks > 0) with an empty and a filled buffer, and a resume: a fresh
    accumulator given the state_dict sums as the hook's --resume does.
    The sums equal the eager EMA in float64 at every read, and the resumed
    accumulator is bit-identical to the uninterrupted one."""
    full = cov_type == 'full'
    batches = _ema_batches()
    decay = [0.9] * len(batches)
    decay[34] = decay[45] = 0.0  # resets: empty buffer, samples buffered
    ref = _eager_ema_reference(
        [(x, _weights(y, m)) for x, y, m in batches], decay, full)
    acc = GaussianAccumulator(3, 5, cov_type=cov_type, buffer_size=16)
    resumed = None
    for i, (x, y, m) in enumerate(batches):
        if decay[i] == 0.0:
            assert (acc._buffered > 0) == (i == 45 and full)
        for a in (acc, resumed) if resumed is not None else (acc, ):
            a.scale_(decay[i])
            a.update(x, y, m)
        if i in (7, 19, 33, 46, 59):  # a refit / checkpoint: read the sums
            got = acc.state_dict()
            for k, want in zip(('n', 's', 'ss'), ref[i]):
                torch.testing.assert_close(got[k], want, rtol=1e-12,
                                           atol=1e-9, msg=f'{k} at {i}')
        if i == 19:  # resume from this checkpoint's sums
            resumed = GaussianAccumulator(3, 5, cov_type=cov_type,
                                          buffer_size=16)
            for k in ('n', 's', 'ss'):
                getattr(resumed, k).copy_(got[k])
        if i > 19 and i in (33, 46, 59):
            resumed.state_dict()  # the resumed run reads there too
    for k in ('n', 's', 'ss'):
        assert torch.equal(getattr(acc, k), resumed.state_dict()[k]), k
    st = acc.compute(shrinkage=0.0, ridge=0.0)
    assert st.counts.sum() == ref[-1][0].round().sum()


def test_ema_decay_does_not_touch_the_covariance_sums_until_a_flush():
    """The one-stage EMA (scale_ + update every iteration) reads and writes
    the C x 2 x D x D sums once per buffer_size samples, as plain
    accumulation does, not on every iteration: sum x x^T is not modified
    (its in-place version counter does not move) while the buffer fills,
    and when it is full each of the C x 2 (class, label) blocks gets exactly
    one read-modify-write (the decay and its samples' products in one
    ``addmm_``, or the decay alone for a label without samples)."""
    acc = GaussianAccumulator(3, 5, buffer_size=16)
    batches = _ema_batches(iters=5)
    batches = [(torch.randn(4, 3, 5), y[:1].expand(4, 3), m[:1].expand(4, 3))
               for _, y, m in batches]
    acc.update(*batches[0])
    version = acc.ss._version
    for x, y, m in batches[1:4]:  # 16 samples buffered: the 4th flushes
        acc.scale_(0.99)
        acc.update(x, y, m)
        if acc._buffered:
            assert acc.ss._version == version
            assert not acc.ss.any()  # nothing written yet
    blocks = 3 * 2
    assert acc._buffered == 0 and acc.ss._version == version + blocks
    acc.scale_(0.99)  # empty buffer: still nothing touched
    acc.update(*batches[4])
    assert acc.ss._version == version + blocks



def _flush_batches(case, C=3, D=6, seed=1):
    """(x, y, mask, decay) per batch for the flush's equality tests."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(24):
        B = 1 if case == 'B=1' else int(torch.randint(1, 9, (1, ),
                                                      generator=g))
        x = torch.randn(B, C, D, generator=g) * 3 + 5  # float32 features
        y = torch.rand(B, C, generator=g) < 0.3
        mask = (torch.rand(B, C, generator=g) < 0.8).double()
        if case == 'empty labels':
            y[:, 1] = False  # class 1: no positive in any buffer
            if i < 12:
                mask[:, 2] = 0  # class 2: all masked in the first buffers
        decay = 0.9 if case == 'EMA' else 1.0
        if case == 'EMA' and i in (9, 17):
            decay = 0.0  # resets (per-epoch mode), buffer empty or not
        out.append((x, y, mask, decay))
    return out


@pytest.mark.parametrize('case', ['masks', 'EMA', 'empty labels', 'B=1'])
def test_flush_equals_a_dense_float64_reference_and_resumes(case):
    """The flush multiplies each (class, label) group's own samples only;
    the sums equal a float64 einsum over all samples (every weight, zeros
    included) at every read, with U-Ignore masks, the EMA's lazy decay
    (and resets), a label without any sample in a buffer, single samples
    (B = 1), and after a resume from the state_dict sums."""
    batches = _flush_batches(case)
    buffer_size = 1 if case == 'B=1' else 16
    ref = _eager_ema_reference(
        [(x, _weights(y, m)) for x, y, m, _ in batches],
        [f for *_, f in batches], full=True)
    acc = GaussianAccumulator(3, 6, buffer_size=buffer_size)
    for i, (x, y, m, f) in enumerate(batches):
        acc.scale_(f)
        acc.update(x, y, m)
        if i in (5, 11, 23):
            got = acc.state_dict()
            for k, want in zip(('n', 's', 'ss'), ref[i]):
                torch.testing.assert_close(got[k], want, rtol=1e-12,
                                           atol=1e-10, msg=f'{k} at {i}')
        if i == 11:  # resume from this read's sums
            sums = {k: got[k].clone() for k in ('n', 's', 'ss')}
            acc = GaussianAccumulator(3, 6, buffer_size=buffer_size)
            for k, t in sums.items():
                getattr(acc, k).copy_(t)
    if case == 'empty labels':
        assert ref[-1][0][1, 1] == 0 and not acc.ss[1, 1].any()


class _MatmulCount(TorchDispatchMode):
    """Multiply-adds of the (b)addmm / (b)mm calls dispatched inside."""

    OPS = ('aten.addmm', 'aten.addmm_', 'aten.baddbmm', 'aten.baddbmm_',
           'aten.mm', 'aten.bmm')

    def __init__(self):
        super().__init__()
        self.madds = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if str(func.overloadpacket) in self.OPS:
            a, b = args[-2], args[-1]
            self.madds += a.numel() * b.shape[-1]
        return func(*args, **(kwargs or {}))


def test_flush_multiplies_only_the_nonzero_weights():
    """Each sample is in one label of each class (or none, masked): the
    flush's multiply-adds are D x D per nonzero weight, half of a product
    over both labels of every sample (the flush before this branch:
    2 x C x B x D x D)."""
    C, D, B = 3, 8, 16
    g = torch.Generator().manual_seed(0)
    y = torch.rand(B, C, generator=g) < 0.3
    mask = (torch.rand(B, C, generator=g) < 0.8).double()
    acc = GaussianAccumulator(C, D, buffer_size=B + 1)
    acc.update(torch.randn(B, C, D, generator=g), y, mask)
    acc.scale_(0.5)  # the decay rides along, costs no matmul
    with _MatmulCount() as count:
        acc.state_dict()  # flushes
    assert acc._buffered == 0
    assert count.madds == int(mask.sum()) * D * D < C * B * D * D


@pytest.mark.parametrize('beta', [0.0, 0.5, 1.0])
def test_weighted_outer_products_honour_any_weights(beta):
    """Weights that are not one-hot (soft, two nonzero labels, negative,
    zero) enter exactly; beta scales the old sums (0 ignores even NaN)."""
    from ldr_mm.reconstruction.statistics import \
        _add_weighted_outer_products
    g = torch.Generator().manual_seed(2)
    B, C, D = 10, 4, 5
    x = torch.randn(B, C, D, generator=g)
    w = torch.randn(B, C, 2, generator=g, dtype=torch.float64)
    w[torch.rand(B, C, 2, generator=g) < 0.4] = 0
    w[:, 3, 1] = 0  # a group without samples
    old = torch.randn(C, 2, D, D, generator=g, dtype=torch.float64)
    ss = old.clone()
    if beta == 0.0:
        ss[0, 0, 0, 0] = ss[3, 1, 1, 1] = float('nan')
    _add_weighted_outer_products(ss, x, w, beta)
    xd = x.double()
    want = beta * old + torch.einsum('bcj,bcd,bce->cjde', w, xd, xd)
    torch.testing.assert_close(ss, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- 2 ranks
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world, port, x, y, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    try:
        # uneven, rank-dependent shards and batch sizes
        idx = np.arange(len(x))[rank::world]
        if rank == 1:
            idx = idx[:-3]  # rank 1 gets fewer samples
        for cov_type in ('full', 'diag'):
            acc = GaussianAccumulator(x.shape[1], x.shape[2],
                                      cov_type=cov_type)
            bs = 7 if rank == 0 else 11
            for i in range(0, len(idx), bs):
                sel = idx[i:i + bs]
                acc.update(torch.from_numpy(x[sel]),
                           torch.from_numpy(y[sel]))
            acc.all_reduce()
            if rank == 0:
                torch.save(acc.compute().to_dict(), f'{out}.{cov_type}')
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tmp_path):
    x, y = random_features(N=203, C=3, D=5, seed=4)
    # the samples both ranks see together
    keep = np.concatenate([np.arange(len(x))[0::2],
                           np.arange(len(x))[1::2][:-3]])
    out = str(tmp_path / 'two.pth')
    mp.start_processes(
        _worker, args=(2, _free_port(), x, y, out), nprocs=2,
        start_method='spawn')
    mean, cov = numpy_stats(x[keep], y[keep])
    for cov_type in ('full', 'diag'):
        two = GaussianStatistics.from_dict(
            torch.load(f'{out}.{cov_type}', weights_only=True))
        acc = GaussianAccumulator(3, 5, cov_type=cov_type)
        acc.update(torch.from_numpy(x[keep]), torch.from_numpy(y[keep]))
        one = acc.compute()
        assert torch.equal(two.counts, one.counts)
        for k in ('mean', 'cov', 'ridge', 'shrinkage'):
            torch.testing.assert_close(getattr(two, k), getattr(one, k),
                                       rtol=1e-12, atol=1e-12)
        # and both equal numpy on the union
        np.testing.assert_allclose(two.mean.numpy(), mean, rtol=1e-12)
        S = cov if cov_type == 'full' else np.diagonal(cov, 0, -2, -1)
        raw = two.cov.numpy() if cov_type == 'diag' else None
        if raw is not None:  # diag + ridge vs numpy's variances
            np.testing.assert_allclose(
                raw - two.ridge.numpy()[..., None], S, rtol=1e-9)


def test_statistics_dataset_swaps_the_pipeline_and_unwraps(tmp_path):
    from mmengine.dataset import RepeatDataset

    from ldr_mm.datasets.demo import generate_demo_dataset
    from ldr_mm.reconstruction import statistics_dataset
    from mmpretrain.registry import DATASETS
    root = str(tmp_path)
    generate_demo_dataset(root, splits=dict(train=6), size=32)
    train = DATASETS.build(dict(
        type='LDRDemoDataset', data_root=root, split='train',
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='RandomFlip', prob=1.0),
                  dict(type='PackInputs')]))
    test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
    for wrapped in (train, RepeatDataset(train, times=3)):
        view = statistics_dataset(wrapped, test_pipeline)
        assert len(view) == 6  # each image once
        flipped, plain = train[0]['inputs'], view[0]['inputs']
        assert torch.equal(flipped.flip(-1), plain)
        assert len(train.pipeline.transforms) == 3  # original untouched
    with pytest.raises(TypeError, match='stats_dataloader'):
        statistics_dataset(object(), test_pipeline)
