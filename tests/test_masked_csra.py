"""CSRA with U-Ignore masks: MaskedCSRAClsHead, the csra_* configs on
CheXpert / MIMIC-CXR-JPG and their stage 2, and ClassFrequencyHook's
counts of known labels.

The masked head's loss leaves masked (uncertain) labels out and is
otherwise MMPretrain's CSRAClsHead exactly (parameters, logits,
predictions, unmasked loss), so every csra_* config uses it and CSRA
checkpoints load both ways.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.models.heads import CSRAClsHead
from mmpretrain.registry import DATASETS, MODELS

import ldr_mm  # noqa: F401
from ldr_mm.engine.hooks import ClassFrequencyHook, dataset_class_frequencies
from ldr_mm.models.losses import DistributionBalancedLoss
from ldr_mm.models.losses.db_loss import distribution_balanced_loss

from test_baselines import EXPECTED_LOSS, SAME_AS_LDR
from test_label_mask import samples as label_samples

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
U_IGNORE = ('chexpert', 'mimic')
LOSSES = [
    dict(type='CrossEntropyLoss', use_sigmoid=True),
    EXPECTED_LOSS['asl'],
    EXPECTED_LOSS['ral'],
    dict(EXPECTED_LOSS['dbloss'], class_counts=[5, 3, 1, 2], num_samples=8),
]
LABELS = [[0, 2], [], [1, 3], [3]]
#: 0 = masked; the third sample carries no mask (all known)
MASKS = [[1, 0, 1, 1], [1, 1, 0, 0], None, [0, 1, 1, 1]]
Y = torch.tensor([[1., 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 1]])
M = torch.tensor([[1., 0, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 1]])


def samples(labels=LABELS, masks=None):
    """DataSamples of ``labels`` with ``masks`` (test_label_mask's)."""
    return label_samples(labels, masks)


def baseline(name):
    return osp.join(REPO, 'configs', 'baselines', f'{name}.py')


def ldrnet(name):
    return osp.join(REPO, 'configs', 'ldrnet', f'{name}.py')


def head_pair(num_heads, loss, **kwargs):
    """The masked head and MMPretrain's CSRAClsHead with the same weights."""
    init_default_scope('mmpretrain')
    args = dict(num_classes=4, in_channels=8, num_heads=num_heads, lam=0.1,
                loss=loss, **kwargs)
    masked = MODELS.build(dict(type='MaskedCSRAClsHead', **args))
    masked.init_weights()
    plain = MODELS.build(dict(type='CSRAClsHead', **args))
    plain.load_state_dict(masked.state_dict(), strict=True)
    return masked, plain


@pytest.mark.parametrize('num_heads', [1, 4])
@pytest.mark.parametrize('loss', LOSSES, ids=lambda d: d['type'])
def test_masked_head_is_csra_without_masks(num_heads, loss):
    """Same state-dict keys (strict loading both ways), logits, predictions
    and, without masks, loss as MMPretrain's CSRAClsHead."""
    masked, plain = head_pair(num_heads, loss)
    assert isinstance(masked, CSRAClsHead)
    assert list(masked.state_dict()) == list(plain.state_dict())
    masked.load_state_dict(plain.state_dict(), strict=True)
    feats = (torch.randn(4, 8, 3, 5), )
    assert torch.equal(masked(feats), plain(feats))
    a, b = masked.predict(feats), plain.predict(feats)
    for x, y in zip(a, b):
        assert torch.equal(x.pred_score, y.pred_score)
        assert torch.equal(x.pred_label, y.pred_label)
    assert torch.equal(masked.loss(feats, samples())['loss'],
                       plain.loss(feats, samples())['loss'])


def test_masked_head_keeps_every_csra_option():
    masked, plain = head_pair(2, LOSSES[0], topk=2)
    assert (masked.topk, masked.thr) == (2, None)
    assert [h.T for h in masked.csra_heads] == [1, 99]
    feats = (torch.randn(3, 8, 4, 4), )
    for x, y in zip(masked.predict(feats), plain.predict(feats)):
        assert torch.equal(x.pred_label, y.pred_label)
        assert len(x.pred_label) == 2


@pytest.mark.parametrize('cfg', ['csra_r18_demo', 'csra_r50_nih',
                                 'csra_r50_chexpert', 'csra_r50_mimic'])
@pytest.mark.parametrize('loss', LOSSES, ids=lambda d: d['type'])
def test_csra_configs_leave_masked_labels_out(cfg, loss):
    """The head of every csra_* config: with masks, the loss is the
    element-wise loss summed over the known entries / batch size; a masked
    entry's label does not change it and its logit gets no gradient.
    (MMPretrain's CSRAClsHead, which these configs used before, trains the
    masked entries as negatives: the last assertion.)"""
    init_default_scope('mmpretrain')
    head_cfg = dict(Config.fromfile(baseline(cfg)).model.head.to_dict(),
                    num_classes=4, in_channels=8, loss=loss)
    head = MODELS.build(head_cfg)
    head.init_weights()
    feats = (torch.randn(4, 8, 3, 3), )
    logits = head(feats).detach()
    el = head.loss_module(logits, Y, reduction_override='none')
    got = head.loss(feats, samples(masks=MASKS))['loss']
    torch.testing.assert_close(got, (el * M).sum() / 4)
    # a masked entry's label makes no difference
    flipped = [[0, 1, 2], [2, 3], [1, 3], [0, 3]]
    torch.testing.assert_close(
        head.loss(feats, samples(flipped, MASKS))['loss'], got)
    z = logits.clone().requires_grad_(True)
    head._get_loss(z, samples(masks=MASKS))['loss'].backward()
    assert (z.grad[M == 0] == 0).all() and (z.grad[M == 1] != 0).all()
    # the unmasked loss (MMPretrain's CSRA) differs: masked = negative
    plain = MODELS.build(dict(head_cfg, type='CSRAClsHead'))
    plain.load_state_dict(head.state_dict())
    assert not torch.allclose(
        plain.loss(feats, samples(masks=MASKS))['loss'], got)


def test_non_elementwise_loss_is_refused_with_masks():
    masked, _ = head_pair(1, dict(type='TwoWayMultiLabelLoss'))
    with pytest.raises(ValueError, match='element-wise loss, which U-Ignore'):
        masked.loss((torch.randn(4, 8, 3, 3), ), samples(masks=MASKS))


# ------------------------------------------------------------- configs
@pytest.mark.parametrize('ds', U_IGNORE)
def test_u_ignore_csra_baseline_is_a_row_like_the_others(ds):
    """csra_r50_<ds>.py: everything but the model is the LDR stage-1
    config's (masked data included); the masked CSRA head reads the
    backbone map; the model builds (random backbone, no download)."""
    path = baseline(f'csra_r50_{ds}')
    cfg = Config.fromfile(path)
    ldr = Config.fromfile(ldrnet(f'ldr_r50_{ds}_stage1'))
    nih = Config.fromfile(baseline('csra_r50_nih'))
    for key in SAME_AS_LDR:
        assert cfg.get(key) == ldr.get(key), key
    assert cfg.custom_hooks == ldr.custom_hooks  # incl. ClassFrequencyHook
    assert cfg.train_dataloader.dataset.uncertain == 'ignore'
    assert cfg.model.backbone == ldr.model.backbone == nih.model.backbone
    assert cfg.model.get('neck') is None
    head = cfg.model.head
    assert head.type == 'MaskedCSRAClsHead'
    assert head.num_classes == 14 and head.loss == nih.model.head.loss
    for key in ('in_channels', 'num_heads', 'lam'):
        assert head[key] == nih.model.head[key], key
    init_default_scope('mmpretrain')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    assert type(model.head).__name__ == 'MaskedCSRAClsHead'
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64), mode='tensor').shape == \
            (1, 14)


@pytest.mark.parametrize('ds', U_IGNORE)
def test_u_ignore_csra_stage2_leaf(ds):
    """ldr_r50_<ds>_stage2_csra.py: the CSRA baseline's model and data, the
    LDR stage 2's schedule on that dataset; its masks reach stage 2 (the
    statistics loader packs gt_mask)."""
    cfg = Config.fromfile(ldrnet(f'ldr_r50_{ds}_stage2_csra'))
    csra = Config.fromfile(baseline(f'csra_r50_{ds}'))
    ldr = Config.fromfile(ldrnet(f'ldr_r50_{ds}_stage2'))
    assert cfg.model.type == 'CSRAStage2Classifier'
    assert cfg.model.stage1_checkpoint == \
        f'work_dirs/csra_r50_{ds}/epoch_30.pth'
    assert cfg.train_dataloader == csra.train_dataloader
    for key in ('train_cfg', 'optim_wrapper', 'param_scheduler'):
        assert cfg[key] == ldr[key], key
    stats = cfg.train_cfg.get('stats_dataloader') or {}
    pipeline = (stats.get('dataset') or {}).get('pipeline') or \
        cfg.test_dataloader.dataset.pipeline
    assert 'gt_mask' in pipeline[-1].algorithm_keys


# ---------------------------------------------------- class frequencies
def _chexpert(root, uncertain):
    from cxr_helpers import write_chexpert
    if not osp.isdir(root):
        os.makedirs(root)
        write_chexpert(root, n_patients=(8, 2), images=False)
    init_default_scope('mmpretrain')
    return DATASETS.build(dict(type='CheXpert', data_root=root,
                               split='train', uncertain=uncertain,
                               pipeline=[], check_files=False))


def test_class_frequencies_count_known_labels_only(tmp_path):
    """U-Ignore: the positives are among the known labels, and the DB
    loss's N is per class, the known labels (its prior n_c / N_c); the
    old count gave every class all N samples, training the uncertain
    labels as negatives in the prior. U-Zeros: unchanged (N, an int)."""
    root = str(tmp_path / 'CheXpert-v1.0-small')
    ds = _chexpert(root, 'ignore')
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    mask = np.array([d['gt_mask'] for d in infos])
    labels = np.zeros_like(mask)
    for i, d in enumerate(infos):
        labels[i, d['gt_label']] = 1
    assert mask.min() == 0  # the fixture has uncertain labels
    counts, n = dataset_class_frequencies(ds)
    assert counts.tolist() == (labels * mask).sum(0).tolist()
    assert isinstance(n, np.ndarray) and n.tolist() == mask.sum(0).tolist()
    assert (n < len(ds)).any()

    zeros = _chexpert(root, 'zeros')  # uncertain = negative: as before
    counts0, n0 = dataset_class_frequencies(zeros)
    assert counts0.tolist() == counts.tolist()
    assert isinstance(n0, int) and n0 == len(zeros)

    # the hook hands (C,) N_c to the DB loss (a class without a positive
    # or a negative known label is refused by name, as before)
    loss = DistributionBalancedLoss()
    runner = type('R', (), dict(
        model=torch.nn.ModuleDict(dict(loss=loss)),
        train_dataloader=type('DL', (), dict(dataset=ds))()))()
    if ((counts > 0) & (counts < n)).all():
        ClassFrequencyHook().before_train(runner)
        assert loss.known_counts.tolist() == n.tolist()
        assert loss.num_samples == int(n.max())
    else:
        with pytest.raises(ValueError, match='positives of the known'):
            ClassFrequencyHook().before_train(runner)


def test_db_loss_prior_uses_known_labels_per_class():
    """With (C,) N_c, column c of the DB loss is the loss with N = N_c:
    the prior of the logit shift is n_c / N_c."""
    counts = torch.tensor([5., 3., 1., 2.])
    known = torch.tensor([8., 6., 7., 3.])
    loss = DistributionBalancedLoss(class_counts=counts.tolist(),
                                    num_samples=known.tolist())
    assert loss.num_samples == 8
    z, y = torch.randn(6, 4), (torch.rand(6, 4) < 0.4).float()
    got = loss(z, y, reduction_override='none')
    for c in range(4):
        col = distribution_balanced_loss(z, y, counts, int(known[c]))[:, c]
        torch.testing.assert_close(got[:, c], col)
    # N = 8 everywhere (the old count) gives another loss
    assert not torch.allclose(got, distribution_balanced_loss(
        z, y, counts, 8))


def test_json_masked_positive_is_not_counted(tmp_path):
    """An MMPretrain MultiLabelDataset JSON whose gt_label names a class
    that its gt_mask masks: not a positive, not a known label. A bad mask
    is named."""
    ann = dict(metainfo=dict(classes=['a', 'b', 'c']), data_list=[
        dict(img_path='1.png', gt_label=[0, 1], gt_mask=[1, 0, 1]),
        dict(img_path='2.png', gt_label=[1], gt_mask=[1, 1, 1]),
        dict(img_path='3.png', gt_label=[2]),
    ])
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(ann))
    init_default_scope('mmpretrain')
    ds = DATASETS.build(dict(type='MultiLabelDataset', ann_file=str(path),
                             data_prefix='', pipeline=[]))
    counts, n = dataset_class_frequencies(ds)
    assert counts.tolist() == [1, 1, 1] and n.tolist() == [3, 2, 3]
    ann['data_list'][0]['gt_mask'] = [1, 0]
    path.write_text(json.dumps(ann))
    ds = DATASETS.build(dict(type='MultiLabelDataset', ann_file=str(path),
                             data_prefix='', pipeline=[]))
    with pytest.raises(ValueError, match=r'sample 0 .*1.png.* \(3,\) 0/1'):
        dataset_class_frequencies(ds)


def test_db_loss_unchanged_without_masks():
    """N as a number and as (C,) copies of it: the same loss, bit for
    bit; (C,) N_c of the wrong length is refused."""
    z, y = torch.randn(6, 4), (torch.rand(6, 4) < 0.4).float()
    a = DistributionBalancedLoss(class_counts=[5, 3, 1, 2], num_samples=8)
    b = DistributionBalancedLoss(class_counts=[5, 3, 1, 2],
                                 num_samples=[8, 8, 8, 8])
    assert torch.equal(a(z, y), b(z, y)) and a.num_samples == 8
    with pytest.raises(ValueError, match=r'\(4,\) known labels'):
        a.set_class_frequencies([5, 3, 1, 2], [8, 8])


# --------------------------------------------------------- end to end
def _tiny_csra(path, data, work_dir):
    """A csra config shrunk as tests/test_configs_cxr.py shrinks the LDR
    ones (tiny ResNet, 32 px, 2 iterations); CSRA has no neck."""
    from medical_helpers import tiny_overrides
    cfg = Config.fromfile(path)
    d = data['chexpert']
    o = {k: v for k, v in tiny_overrides(cfg, d['root'], d['cache'],
                                         work_dir).items()
         if not k.startswith('model.neck.')}
    o['model.head.in_channels'] = 64  # the tiny ResNet's channels
    cfg.merge_from_dict(o)
    return cfg


@pytest.mark.slow
def test_chexpert_csra_and_its_stage2_through_the_runner(tmp_path):
    """csra_r50_chexpert.py trains (2 iterations, masked labels in the
    batches) and validates on a CheXpert-format tree with uncertain
    labels; ldr_r50_chexpert_stage2_csra.py loads that checkpoint strictly
    and runs a round, its statistics counting the known labels only."""
    from mmengine.runner import Runner
    from cxr_helpers import write_chexpert
    from medical_helpers import write_prompt_cache
    from ldr_mm.datasets import CHEXPERT_CLASSES
    root = str(tmp_path / 'CheXpert-v1.0-small')
    os.makedirs(root)
    write_chexpert(root, n_patients=(10, 3))
    data = dict(chexpert=dict(root=root, cache=write_prompt_cache(
        str(tmp_path / 'cx.pth'), CHEXPERT_CLASSES)))
    torch.manual_seed(0)
    s1 = _tiny_csra(baseline('csra_r50_chexpert'), data,
                    str(tmp_path / 's1'))
    runner = Runner.from_cfg(s1)
    assert type(runner.model.head).__name__ == 'MaskedCSRAClsHead'
    runner.train()
    assert runner.iter == 2
    val = {k for k in runner.message_hub.log_scalars if k.startswith('val/')}
    assert {'val/auc/mean', 'val/mAP/mean'} <= val
    ckpt = osp.join(s1.work_dir, 'epoch_1.pth')

    cfg = _tiny_csra(ldrnet('ldr_r50_chexpert_stage2_csra'), data,
                     str(tmp_path / 's2'))
    cfg.train_cfg.pop('max_epochs', None)
    cfg.train_cfg.update(rounds=1, e_iters=2, m_iters=3,
                         virtual_batch_size=8)
    cfg.merge_from_dict({'model.stage1_checkpoint': ckpt,
                         'default_hooks.checkpoint.interval': 2})
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert type(runner.model).__name__ == 'CSRAStage2Classifier'
    ds = runner.train_dataloader.dataset
    known = np.sum([ds.get_data_info(i)['gt_mask'] for i in range(len(ds))],
                   axis=0)
    assert known.min() < len(ds)  # the fixture has uncertain labels
    stats = torch.load(osp.join(cfg.work_dir, 'reconstruction',
                                'stats_round1.pth'), weights_only=True)
    assert stats['counts'].sum(-1).tolist() == known.tolist()


def test_query2label_head_leaves_masked_labels_out_too():
    """The other attention-head baseline, ldr_mm's Query2LabelHead, takes
    the same masked loss (and its unmasked loss is unchanged)."""
    init_default_scope('mmpretrain')
    head = MODELS.build(dict(type='Query2LabelHead', num_classes=4,
                             in_channels=8, num_heads=2, dropout=0.0))
    head.init_weights()
    feats = (torch.randn(4, 8, 3, 3), )
    logits = head(feats).detach()
    el = head.loss_module(logits, Y, reduction_override='none')
    torch.testing.assert_close(head.loss(feats, samples(masks=MASKS))['loss'],
                               (el * M).sum() / 4)
    torch.testing.assert_close(head.loss(feats, samples())['loss'],
                               el.sum() / 4)
