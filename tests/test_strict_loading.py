"""Strict checkpoint loading (ldr_mm.utils) and tools/test.py refusing
checkpoints of another model or other classes (issue 13, item 1)."""
import os
import os.path as osp
import subprocess
import sys
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from inference_helpers import load_tool
from ldr_mm.datasets.demo import DEMO_CLASSES
from ldr_mm.utils import (CheckpointMismatchError, ClassMismatchError,
                          check_same_classes, class_difference,
                          config_classes, config_metainfo, inner_dataset_cfg,
                          load_strict, split_dataset_cfg)
from stage2_helpers import (build_model, make_stage1_checkpoint, stage1_cfg,
                            stage2_root, write_prompt)

__all__ = ['stage2_root']  # the fixture

CLASSES = list(DEMO_CLASSES)


# ----------------------------------------------------------- config helpers
def test_inner_dataset_cfg_unwraps_every_wrapper():
    inner = dict(type='LDRDemoDataset', data_root='d', pipeline=[1])
    assert inner_dataset_cfg(inner) is inner
    for wrapped in (dict(type='RepeatDataset', times=2, dataset=inner),
                    dict(type='ClassBalancedDataset', oversample_thr=0.1,
                         dataset=inner),
                    dict(type='ConcatDataset', datasets=[inner, dict(
                        type='Other')]),
                    dict(type='MyWrapper', dataset=dict(
                        type='RepeatDataset', dataset=dict(
                            type='ConcatDataset', datasets=[inner])))):
        assert inner_dataset_cfg(wrapped) is inner
    assert inner_dataset_cfg(None) is None
    assert inner_dataset_cfg({}) is None
    loop = dict(type='RepeatDataset')
    loop['dataset'] = loop
    with pytest.raises(ValueError, match='refers to itself'):
        inner_dataset_cfg(loop)


def test_config_classes_from_metainfo_argument_or_registry():
    def cfg(ds, split='test'):
        return {f'{split}_dataloader': dict(dataset=dict(
            type='RepeatDataset', times=3, dataset=ds))}

    assert config_classes(cfg(dict(type='MultiLabelDataset', metainfo=dict(
        classes=('a', 'b'))))) == ['a', 'b']
    assert config_classes(cfg(dict(type='MultiLabelDataset',
                                   classes=['x', 'y']))) == ['x', 'y']
    # the registered class's METAINFO (and its other fields)
    meta = config_metainfo(cfg(dict(type='ODIR5K'), 'train'))
    assert meta['classes'][0] == 'N' and len(meta['prompt_names']) == 8
    # a plain MultiLabelDataset names its classes in its annotation file
    assert config_classes(cfg(dict(type='MultiLabelDataset'))) is None
    assert config_classes({}) is None
    # test before val before train; a named split only
    both = dict(cfg(dict(type='A', classes=['t']), 'test'),
                **cfg(dict(type='A', classes=['v']), 'train'))
    assert config_classes(both) == ['t']
    assert config_classes(both, splits=('train', )) == ['v']
    assert split_dataset_cfg(both, ('val', )) is None


def test_check_same_classes_names_the_difference():
    check_same_classes(['a', 'b'], ['a', 'b'], 'x vs y')
    check_same_classes(None, ['a'], 'x vs y')  # not recorded: not checked
    check_same_classes(['a'], None, 'x vs y')
    with pytest.raises(ClassMismatchError,
                       match=r"x vs y: the classes \['b', 'a'\] differ from "
                       r"\['a', 'b'\] \(same "
                       r"names in another order; #0: 'b' vs 'a'.*Fix it"):
        check_same_classes(['a', 'b'], ['b', 'a'], 'x vs y', 'Fix it.')
    assert class_difference(['a', 'b', 'c'], ['a', 'b']) == (
        "3 vs 2 classes; only in the first: ['c']; only in the second: []")
    assert class_difference(['a', 'q'], ['a', 'b']) == (
        "only in the first: ['q']; only in the second: ['b']; "
        "#1: 'q' vs 'b'")
    with pytest.raises(KeyError):
        check_same_classes(['a'], ['b'], 'w', error=KeyError)


# -------------------------------------------------------------- load_strict
def _tiny_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))


def test_load_strict_accepts_an_exact_fit_and_ddp_prefixes(tmp_path):
    src, dst = _tiny_net(), _tiny_net()
    with torch.no_grad():
        src[0].weight.add_(1)
    sd = {'module.' + k: v for k, v in src.state_dict().items()}
    path = str(tmp_path / 'ddp.pth')
    torch.save(dict(state_dict=sd, meta=dict(dataset_meta=dict(
        classes=['a', 'b']))), path)
    meta = load_strict(dst, path, classes=['a', 'b'])
    assert meta['dataset_meta']['classes'] == ['a', 'b']
    assert torch.equal(dst[0].weight, src[0].weight)
    # a bare state dict with no meta: nothing to compare classes with
    assert load_strict(dst, src.state_dict(), classes=['z']) == {}
    mixed = dict(src.state_dict())
    mixed['module.0.bias'] = mixed['0.bias']
    with pytest.raises(CheckpointMismatchError, match='both with and '):
        load_strict(dst, mixed)


def test_load_strict_refuses_and_leaves_the_model_unchanged(tmp_path):
    net = _tiny_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    good = _tiny_net().state_dict()
    with torch.no_grad():
        for v in good.values():
            v.add_(1)
    cases = {
        'missing': ({k: v for k, v in good.items() if k != '0.bias'},
                    r'1 weight\(s\) of the model missing from the '
                    r'checkpoint: 0.bias'),
        'extra': (dict(good, extra=torch.zeros(1)),
                  r'in the checkpoint that the model does not have: extra'),
        'shape': (dict(good, **{'0.weight': torch.zeros(2, 4)}),
                  r'0.weight checkpoint \(2, 4\) vs model \(2, 3\)'),
    }
    for name, (sd, pattern) in cases.items():
        with pytest.raises(CheckpointMismatchError,
                           match=r'(?s)My net does not fit.*' + pattern +
                           '.*Use the right one'):
            load_strict(net, sd, what='My net', hint='Use the right one.')
    path = str(tmp_path / 'c.pth')
    torch.save(dict(state_dict=good, meta=dict(dataset_meta=dict(
        classes=['b', 'a']))), path)
    with pytest.raises(CheckpointMismatchError,
                       match=f'Checkpoint "{path}" vs the set: .*another '
                       'order'):
        load_strict(net, path, classes=['a', 'b'], classes_of='the set')
    with pytest.raises(CheckpointMismatchError, match='no model weights'):
        load_strict(net, {'meta': {}})
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------ tools/test.py
@pytest.fixture(scope='module')
def strict_case(stage2_root, tmp_path_factory):
    """A tiny config and checkpoints: the right one, one of 9 classes, one
    without its head, one with the class names in another order."""
    base = tmp_path_factory.mktemp('strict_test')
    cfg_path = str(base / 'cfg.py')
    stage1_cfg(stage2_root, str(base / 'work')).dump(cfg_path)
    good = osp.join(stage2_root, 'stage1.pth')
    write_prompt(str(base / 'p9.pth'), classes=CLASSES[:9])
    nine = make_stage1_checkpoint(
        stage2_root, str(base / 'nine.pth'), classes=CLASSES[:9],
        **{'model.head.num_classes': 9,
           'model.neck.prompt_cache': str(base / 'p9.pth')})
    ckpt = torch.load(good, weights_only=True)
    headless = str(base / 'headless.pth')
    torch.save(dict(meta=ckpt['meta'], state_dict={
        k: v for k, v in ckpt['state_dict'].items()
        if not k.startswith('head.')}), headless)
    swapped = str(base / 'swapped.pth')
    order = [CLASSES[1], CLASSES[0]] + CLASSES[2:]
    torch.save(dict(meta=dict(dataset_meta=dict(classes=order)),
                    state_dict=ckpt['state_dict']), swapped)
    other = str(base / 'other.pth')  # same model, the classifier negated
    torch.save(dict(meta=ckpt['meta'], state_dict={
        k: -v if k.startswith('head.') else v
        for k, v in ckpt['state_dict'].items()}), other)
    return dict(cfg=cfg_path, good=good, nine=nine, headless=headless,
                swapped=swapped, other=other, work=str(base / 'work'))


def test_tools_test_refuses_other_models_and_classes(strict_case):
    tool = load_tool('test.py')
    cfg = strict_case['cfg']
    expect = {
        # the head's input is 2D = 64: the recommended gap_residual='concat'
        'nine': r'head.weight checkpoint \(9, 64\) vs model \(10, 64\)',
        'headless': r'missing from the checkpoint: head.weight, head.bias',
        'swapped': r"the test dataset of .*same names in another order; "
                   r"#0: 'nodule' vs 'opacity', #1: 'opacity' vs 'nodule'",
    }
    for name, pattern in expect.items():
        path = strict_case[name]
        with pytest.raises(SystemExit, match=f'(?s)"{path}".*{pattern}'):
            tool.main([cfg, path, '--work-dir', strict_case['work']])
    # the right checkpoint is evaluated (the refusals are not blanket ones)
    metrics = tool.main([cfg, strict_case['good'], '--work-dir',
                         strict_case['work']])
    assert 0.0 <= metrics['auc/mean'] <= 1.0


def test_tools_test_ignores_load_from(strict_case):
    """Nothing loads over CHECKPOINT through MMEngine's non-strict
    load_from, not even one given with --cfg-options."""
    tool = load_tool('test.py')
    cfg, work = strict_case['cfg'], strict_case['work']
    metrics = tool.main([cfg, strict_case['good'], '--work-dir', work])
    again = tool.main([cfg, strict_case['good'], '--work-dir', work,
                       '--cfg-options', f'load_from={strict_case["other"]}'])
    assert _same_metrics(again, metrics)
    assert not _same_metrics(
        tool.main([cfg, strict_case['other'], '--work-dir', work]), metrics)


def _same_metrics(a, b):
    """Equal keys and values; NaN (an undefined clinical value) equals NaN
    (a plain ``==`` on the dicts would call two identical runs different)."""
    same = lambda x, y: x == y or (x != x and y != y)  # noqa: E731
    return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_tools_test_cli_exits_non_zero(strict_case):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), strict_case['cfg'],
         strict_case['swapped'], '--work-dir', strict_case['work']],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert f'"{strict_case["swapped"]}"' in proc.stderr
    assert 'same names in another order' in proc.stderr
    assert 'Per-class results' not in proc.stdout


# ----------------------------------------------------------------- fuzzing
def _mutations():
    """Lists of 1-3 changes that make a checkpoint not fit."""
    key_change = st.tuples(
        st.sampled_from(['drop', 'extra', 'shape', 'rank']),
        st.integers(0, 10_000))
    class_change = st.one_of(
        st.tuples(st.just('order'), st.permutations(range(len(CLASSES)))
                  .filter(lambda p: list(p) != sorted(p))),
        st.tuples(st.just('rename'), st.integers(0, len(CLASSES) - 1)),
        st.tuples(st.just('count'), st.integers(-3, 3).filter(bool)))
    return st.lists(st.one_of(key_change, class_change), min_size=1,
                    max_size=3)


def _apply(state, classes, change):
    kind, arg = change
    keys = sorted(state)
    key = keys[arg % len(keys)] if isinstance(arg, int) else None
    if kind == 'drop':
        state.pop(key)
    elif kind == 'extra':
        state[f'fuzz_extra_{arg}.weight'] = torch.zeros(2)
    elif kind == 'shape':
        v = state[key]
        shape = list(v.shape) or [1]
        shape[arg % len(shape)] += 1
        state[key] = torch.zeros(shape, dtype=v.dtype)
    elif kind == 'rank':
        state[key] = state[key].unsqueeze(0)
    elif kind == 'order':  # permute the first len(arg) names
        n = min(len(arg), len(classes))
        classes = [classes[i] for i in arg if i < n] + classes[n:]
    elif kind == 'rename':
        classes, i = list(classes), arg % len(classes)
        classes[i] = classes[i] + '_x'
    elif kind == 'count':
        classes = classes[:arg] if arg < 0 else classes + [
            f'extra{i}' for i in range(arg)]
    return state, classes


class _Loaded:
    """The tiny model with its weights (short repr for hypothesis)."""

    def __init__(self, model, state):
        self.model, self.state = model, state

    def __repr__(self):
        return '<tiny LDR model>'


@pytest.fixture(scope='module')
def fuzz_model(stage2_root):
    cfg = stage1_cfg(stage2_root)
    model = build_model(cfg)
    ckpt = torch.load(osp.join(stage2_root, 'stage1.pth'), weights_only=True)
    model.load_state_dict(ckpt['state_dict'])
    return _Loaded(model, ckpt['state_dict'])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=_mutations())
def test_fuzz_tools_test_loading_never_accepts_a_mismatch(fuzz_model,
                                                          changes):
    """Random other classes, shapes, missing/extra keys or class order:
    tools/test.py's loading function always refuses, loading nothing."""
    tool = _test_tool()
    model, state = fuzz_model.model, fuzz_model.state
    bad, classes = dict(state), list(CLASSES)
    for change in changes:
        bad, classes = _apply(bad, classes, change)
    if bad.keys() == state.keys() and all(
            bad[k].shape == state[k].shape for k in state) and \
            classes == CLASSES:
        return  # the changes cancelled out (e.g. count +1 then -1)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'fuzz.pth')
        torch.save(dict(meta=dict(dataset_meta=dict(classes=classes)),
                        state_dict=bad), path)
        with pytest.raises(SystemExit) as e:
            tool.load_checkpoint(model, path, CLASSES, 'the test dataset')
    assert path in str(e.value.code)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


_TOOL = []


def _test_tool():
    if not _TOOL:
        _TOOL.append(load_tool('test.py'))
    return _TOOL[0]
