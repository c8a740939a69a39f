"""Statistics source of stage 2 (issue 12, item 5): ``train_cfg.
stats_dataloader.source`` ('train' | 'train+val') and ``views`` (augmented
passes per image)."""
import copy
import os.path as osp

import pytest
import torch

from stage2_helpers import (build_loop, build_runner, get_hook,
                            round0_statistics, stage2_cfg, stage2_root)

__all__ = ['stage2_root']


def test_train_val_is_the_pooled_statistics_of_both_splits(
        stage2_root, tmp_path):
    train, runner = round0_statistics(stage2_root, str(tmp_path / 't'))
    val_cfg = copy.deepcopy(runner.cfg.val_dataloader.dataset)
    val, _ = round0_statistics(stage2_root, str(tmp_path / 'v'), dataset=val_cfg)
    both, _ = round0_statistics(stage2_root, str(tmp_path / 'tv'),
                            source='train+val')
    assert both.num_samples == 48 + 16 == train.num_samples + val.num_samples
    n_t, n_v = train.counts.double(), val.counts.double()
    assert torch.equal(both.counts.double(), n_t + n_v)
    # pooled mean, by hand from the two splits' own statistics
    w_t = (n_t / (n_t + n_v).clamp(min=1))[..., None]
    pooled = w_t * train.mean.double() + (1 - w_t) * val.mean.double()
    seen = (n_t + n_v) > 0
    torch.testing.assert_close(both.mean.double()[seen], pooled[seen],
                               rtol=1e-6, atol=1e-6)


def test_views_count_every_pass_and_augment_reproducibly(stage2_root,
                                                         tmp_path):
    one, runner = round0_statistics(stage2_root, str(tmp_path / '1'))
    test_pipeline = copy.deepcopy(runner.cfg.test_dataloader.dataset.pipeline)
    # a deterministic pipeline: two identical passes, same Gaussians
    same, _ = round0_statistics(stage2_root, str(tmp_path / '2'), views=2,
                            pipeline=test_pipeline)
    assert same.num_samples == 2 * one.num_samples
    assert torch.equal(same.counts, 2 * one.counts)
    torch.testing.assert_close(same.mean, one.mean, rtol=1e-6, atol=1e-6)
    # default with views > 1: the train pipeline (RandomFlip p=0.5)
    aug_a, _ = round0_statistics(stage2_root, str(tmp_path / 'a'), views=3)
    aug_b, _ = round0_statistics(stage2_root, str(tmp_path / 'b'), burn=5,
                            views=3)
    assert aug_a.num_samples == 3 * one.num_samples
    # the pass is seeded per round, whatever the global streams hold
    assert torch.equal(aug_a.mean, aug_b.mean)
    assert torch.equal(aug_a.cov, aug_b.cov)
    assert not torch.allclose(aug_a.mean, same.mean, atol=1e-6)  # augmented
    assert aug_a.extra['stats_source'] == dict(source='train', views=3)


@pytest.mark.parametrize('opts,match', [
    (dict(source='val'), "source='val' is not one of"),
    (dict(views=0), 'views=0 must be an int >= 1'),
    (dict(views=1.5), 'views=1.5 must be an int'),
    (dict(source='train+val', dataset=dict(type='LDRDemoDataset')),
     'both `dataset` and `source`'),
])
def test_bad_source_options_are_refused(stage2_root, tmp_path, opts, match):
    with pytest.raises(ValueError, match=match):
        build_loop(build_runner(stage2_cfg(
            stage2_root, str(tmp_path), stats_dataloader=opts)))


def test_train_val_refuses_a_val_set_with_other_classes(stage2_root,
                                                        tmp_path):
    cfg = stage2_cfg(stage2_root, str(tmp_path),
                     stats_dataloader=dict(source='train+val'))
    runner = build_runner(cfg)
    loop = build_loop(runner)
    get_hook(runner).before_run(runner)
    classes = list(runner.train_dataloader.dataset.metainfo['classes'])
    runner.cfg.val_dataloader.dataset.metainfo = dict(
        classes=classes[::-1])
    with pytest.raises(ValueError, match="source='train\\+val'.*differ"):
        loop._estimate(0)


@pytest.mark.slow
def test_resume_with_augmented_train_val_views_is_exact(stage2_root,
                                                        tmp_path):
    """Random views (train pipeline, views=2) over train+val: a run resumed
    at a round boundary recomputes round 1's statistics exactly and ends
    where the uninterrupted run ends."""
    from test_stage2_resume import assert_same, load
    kw = dict(e_iters=2, rounds=2, m_iters=3, ckpt_interval=1,
              m_solver='lda',
              stats_dataloader=dict(source='train+val', views=2))
    full = str(tmp_path / 'full')
    build_runner(stage2_cfg(stage2_root, full, **kw)).train()
    ref = load(osp.join(full, 'iter_4.pth'))
    work = str(tmp_path / 'resume')
    cfg = stage2_cfg(stage2_root, work, **kw)
    cfg.resume, cfg.load_from = True, osp.join(full, 'iter_2.pth')
    build_runner(cfg).train()
    out = load(osp.join(work, 'iter_4.pth'))
    for key in ('state_dict', 'optimizer', 'ldr_reconstruction'):
        assert_same(ref[key], out[key], key)
    a = load(osp.join(full, 'reconstruction', 'stats_round2.pth'))
    b = load(osp.join(work, 'reconstruction', 'stats_round2.pth'))
    assert a['extra']['stats_source'] == dict(source='train+val', views=2)
    assert int(a['counts'][0].sum()) == 2 * (48 + 16)  # both splits, twice
    assert_same(a['mean'], b['mean'])
    assert_same(a['cov'], b['cov'])
