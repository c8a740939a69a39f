"""The attention-head baselines: Query2LabelHead and the csra_* / q2l_*
configs (configs/baselines).

Their end-to-end smoke runs over the benchmark suite's presets are in
tests/test_benchmark_suite.py; a tiny training run of both demo configs
through MMEngine's runner is here (slow).
"""
import json
import os
import os.path as osp
import shutil
import tempfile

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import benchmark as suite
from benchmark.presets import ATTENTION_HEADS

from test_baselines import EXPECTED_LOSS, SAME_AS_LDR, STEMS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
HEAD_TYPES = dict(csra='MaskedCSRAClsHead', q2l='Query2LabelHead')


def config(head, stem):
    return osp.join(REPO, 'configs', 'baselines', f'{head}_{stem}.py')


def build_head(**kwargs):
    init_default_scope('mmpretrain')
    args = dict(type='Query2LabelHead', num_classes=5, in_channels=32,
                num_heads=4)
    args.update(kwargs)
    head = MODELS.build(args)
    head.init_weights()
    return head


@pytest.mark.parametrize('kwargs,feats,width', [
    (dict(), torch.randn(3, 32, 4, 5), 32),
    (dict(embed_dims=16, num_encoder_layers=1, num_layers=2),
     torch.randn(3, 32, 6, 6), 16),
    # ViT-style tokens with a class token, 'auto' drops it
    (dict(pos_encoding='none'), torch.randn(3, 1 + 9, 32), 32),
])
def test_q2l_shapes(kwargs, feats, width):
    head = build_head(**kwargs).eval()  # no dropout
    x = head.pre_logits((feats, ))
    assert x.shape == (3, 5, width)
    logits = head((feats, ))
    assert logits.shape == (3, 5)
    # the group-wise linear layer: class c's logit from query c alone
    want = (x * head.weight).sum(-1) + head.bias
    torch.testing.assert_close(logits, want)
    # forward is pure: the same input gives the same output
    torch.testing.assert_close(head((feats, )), head((feats, )))


def test_q2l_class_logit_sees_only_its_query():
    """Changing class 2's weight vector moves class 2's logit only."""
    head = build_head().eval()
    feats = (torch.randn(2, 32, 3, 3), )
    before = head(feats).detach()
    with torch.no_grad():
        # (not a constant: LayerNorm'd features sum to about 0)
        head.weight[2] += torch.randn(32)
    after = head(feats).detach()
    changed = (after - before).abs() > 1e-6
    assert changed[:, 2].all() and not changed[:, [0, 1, 3, 4]].any()


def test_q2l_gradient_flow():
    """The loss reaches the queries, both attentions, the projection, the
    group-wise layer and the backbone map."""
    head = build_head(embed_dims=16, num_encoder_layers=1)
    feats = torch.randn(4, 32, 3, 3, requires_grad=True)
    samples = [DataSample().set_gt_label(lbl)
               for lbl in ([0, 4], [1], [], [2, 3])]
    loss = head.loss((feats, ), samples)['loss']
    assert torch.isfinite(loss)
    loss.backward()
    for name in ('query_embed', 'weight', 'bias', 'input_proj.weight',
                 'encoder.0.self_attn.in_proj_weight',
                 'decoder.0.self_attn.in_proj_weight',
                 'decoder.0.multihead_attn.in_proj_weight',
                 'decoder.0.linear2.weight'):
        grad = dict(head.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert feats.grad.abs().sum() > 0
    pred = head.predict((feats.detach(), ))
    assert pred[0].pred_score.shape == (5, )


@pytest.mark.parametrize('kwargs,match', [
    (dict(num_classes=0), 'num_classes'),
    (dict(num_heads=5), 'divisible'),
    (dict(num_layers=0), 'num_layers'),
    (dict(pos_encoding='learned'), 'pos_encoding'),
    (dict(query_init_std=0.0), 'query_init_std'),
])
def test_q2l_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_head(**kwargs)


def test_q2l_wrong_channels_is_named():
    head = build_head()
    with pytest.raises(ValueError, match='32'):
        head((torch.randn(2, 16, 3, 3), ))


@pytest.mark.parametrize('stem', STEMS)
@pytest.mark.parametrize('name', ATTENTION_HEADS)
def test_same_data_schedule_and_backbone_as_every_row(name, stem):
    """Everything but the head (and its loss) is the other baselines' and
    the LDR stage-1 config's; no neck; the head reads the backbone map."""
    cfg = Config.fromfile(config(name, stem))
    ldr = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet',
                                   f'ldr_{stem}_stage1.py'))
    bce = Config.fromfile(config('bce', stem))
    for key in SAME_AS_LDR:
        assert cfg.get(key) == ldr.get(key), key
    assert cfg.custom_hooks == ldr.custom_hooks  # incl. ClassFrequencyHook
    assert cfg.model.type == 'ImageClassifier'
    assert cfg.model.backbone == ldr.model.backbone == bce.model.backbone
    assert cfg.model.get('neck') is None
    head = cfg.model.head
    assert head.type == HEAD_TYPES[name]
    assert head.num_classes == ldr.model.head.num_classes
    assert head.in_channels == ldr.model.neck.in_channels
    assert head.loss in EXPECTED_LOSS.values()


@pytest.mark.parametrize('name', ATTENTION_HEADS)
def test_loss_is_a_one_line_swap(name, tmp_path):
    """A leaf that sets `loss=_base_.<name>_loss` replaces the loss whole."""
    child = tmp_path / f'{name}_r18_demo_ral.py'
    child.write_text(
        f"_base_ = [{config(name, 'r18_demo')!r}]\n"
        "model = dict(head=dict(loss=_base_.ral_loss))\n")
    cfg = Config.fromfile(str(child))
    assert cfg.model.head.loss == EXPECTED_LOSS['ral']


@pytest.mark.parametrize('name', ATTENTION_HEADS)
def test_demo_models_build_and_step(name):
    """The demo model at a narrow width builds (the suite's backbone swap
    fixes the head's width) and trains one step, DB loss included."""
    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config(name, 'r18_demo'))
    suite.set_backbone(cfg, suite.tiny_backbone(8, like=cfg.model.backbone))
    assert cfg.model.head.in_channels == 64
    cfg.model.head.loss = dict(EXPECTED_LOSS['dbloss'], class_counts=[
        9, 7, 5, 4, 3, 3, 2, 2, 1, 1], num_samples=20)
    model = MODELS.build(cfg.model)
    model.init_weights()
    x = torch.randn(4, 3, 32, 32)
    samples = [DataSample().set_gt_label(lbl)
               for lbl in ([0, 4], [1], [], [2, 9])]
    loss = model.loss(x, samples)['loss']
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.head.parameters())
    assert model.predict(x)[0].pred_score.shape == (10, )


@pytest.mark.parametrize('name', ATTENTION_HEADS)
def test_medical_models_build(name):
    """The ResNet-50 configs build (random backbone, no download)."""
    init_default_scope('mmpretrain')
    for ds, n in (('nih', 14), ('odir', 8), ('spa', 12)):
        cfg = Config.fromfile(config(name, f'r50_{ds}'))
        cfg.model.backbone.init_cfg = None
        model = MODELS.build(cfg.model)
        out = model(torch.randn(1, 3, 64, 64), mode='tensor')
        assert out.shape == (1, n), ds


def test_presets_list_the_attention_heads():
    for preset in ('demo-baselines', 'demo', 'all-demo', 'mnistlt',
                   'nih-baselines', 'odir', 'all-spa'):
        names = {suite.run_name(c) for c in suite.PRESETS[preset]}
        for head in ATTENTION_HEADS:
            assert any(n.startswith(f'{head}_') for n in names), preset
    for c in suite.PRESETS['all-demo'] + suite.PRESETS['all-spa']:
        assert osp.isfile(osp.join(REPO, suite.split_spec(c)[0])), c


@pytest.mark.slow
def test_tiny_training_through_the_runner():
    """Both demo configs train (2 iterations), validate, keep the best
    checkpoint and test through tools/train.py and tools/test.py (the
    suite's smoke mode, in this process)."""
    work = tempfile.mkdtemp(prefix='ah')
    try:
        names = [f'{h}_r18_demo' for h in ATTENTION_HEADS]
        rc = suite.main([config(h, 'r18_demo') for h in ATTENTION_HEADS] + [
            '--work-dir', work, '--smoke', '--in-process', '--threads', '1',
            '--reference', 'best-baseline', '--bootstrap', '20'])
        assert rc == 0
        for name in names:
            run = osp.join(work, name, 'seed0')
            assert osp.isfile(osp.join(run, 'test_scores.json'))
            ckpts = [f for f in os.listdir(run)
                     if f.startswith('best_') and f.endswith('.pth')]
            assert ckpts, name
        md = open(osp.join(work, 'results.md')).read()
        res = json.load(open(osp.join(work, 'results.json')))
        ref = res['comparison']['reference']
        assert ref in names and f'Reference: `{ref}`, the baseline' in md
        other = [n for n in names if n != ref]
        assert list(res['comparison']['diffs']) == other
        assert f'Difference to `{ref}`' in md
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _result(config, *val_maps):
    return dict(config=config, val_metrics=[
        {'mAP/mean': v} if v is not None else {} for v in val_maps])


def test_best_baseline_is_chosen_on_validation():
    """--reference best-baseline: the baseline (loss or attention head)
    with the best mean validation mAP; LDR rows never; seeds without
    validation metrics are left out; None without any."""
    from benchmark.report import best_baseline
    results = {
        'dbloss_r18_demo': _result('configs/baselines/dbloss_r18_demo.py',
                                   0.44, 0.45),
        'csra_r18_demo': _result('configs/baselines/csra_r18_demo.py',
                                 0.50, None, 0.52),
        'ldr_r18_demo_stage2': _result(
            'configs/ldrnet/ldr_r18_demo_stage2.py', 0.9, 0.9),
    }
    name, value = best_baseline(results)
    assert name == 'csra_r18_demo' and value == pytest.approx(0.51)
    assert best_baseline({'ldr': results['ldr_r18_demo_stage2']}) is None


def test_best_baseline_is_accepted_and_bad_reference_named(tmp_path):
    args = suite.parse_args([config('csra', 'r18_demo'), '--reference',
                             'best-baseline', '--work-dir', str(tmp_path)])
    from benchmark.cli import resolve_configs
    assert [suite.run_name(c) for c in resolve_configs(args)] == [
        'csra_r18_demo']
    with pytest.raises(suite.SuiteError, match='or best-baseline'):
        suite.main([config('csra', 'r18_demo'), '--reference', 'best',
                    '--work-dir', str(tmp_path)])
