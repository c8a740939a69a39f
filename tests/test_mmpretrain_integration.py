"""MMPretrain integration (issue 14.6): the LDR model index behind
mmpretrain.list_models, ldr_mm.apis.get_model (strict) / inference_model, versions in
logs and checkpoints, no mmcv-lite warning on import."""
import glob
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO

LDR_CONFIGS = sorted(osp.basename(p)[:-3] for p in glob.glob(
    osp.join(REPO, 'configs', 'ldrnet', '*.py')))


def test_list_models_knows_the_ldr_configs():
    import mmpretrain
    from mmpretrain.apis import ModelHub
    assert mmpretrain.list_models('*ldr*') == LDR_CONFIGS
    assert len(LDR_CONFIGS) >= 14  # every config in configs/ldrnet
    # MMPretrain's own models are still there
    assert 'resnet50_8xb32_in1k' in mmpretrain.list_models('resnet50')
    meta = ModelHub.get('ldr_r50_nih_stage1')
    assert meta.config.model.neck.type == 'LDRNeck'
    assert meta.config.filename == osp.join(REPO, 'configs', 'ldrnet',
                                            'ldr_r50_nih_stage1.py')
    assert meta.weights is None


def test_other_models_still_use_mmpretrain_code():
    from ldr_mm.apis import get_model
    from mmpretrain.models import ImageClassifier
    model = get_model('resnet18_8xb32_in1k', pretrained=False)
    assert isinstance(model, ImageClassifier)
    assert type(model.head).__name__ == 'LinearClsHead'


@pytest.mark.slow
def test_no_mmcv_lite_warning_on_import():
    """`import mmpretrain.models` alone warns about MultiScaleDeformableAttention on
    mmcv-lite; after `import ldr_mm` it does not."""
    env = dict(os.environ, PYTHONPATH=REPO, PYTHONWARNINGS='default')
    word = 'MultiScaleDeformableAttention'
    plain = subprocess.run([sys.executable, '-c', 'import mmpretrain.models'],
                           capture_output=True, text=True, env=env,
                           timeout=300)
    if word not in plain.stderr:
        pytest.skip('full mmcv installed: there is no warning to filter')
    ours = subprocess.run(
        [sys.executable, '-c',
         'import ldr_mm, mmpretrain, mmpretrain.models'],
        capture_output=True, text=True, env=env, timeout=300)
    assert ours.returncode == 0, ours.stderr
    assert word not in ours.stderr


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    from inference_helpers import make_tiny_run
    return make_tiny_run(str(tmp_path_factory.mktemp('mmpretrain_api')))


@pytest.mark.slow
def test_get_model_is_strict_and_inference_model_is_multilabel(run,
                                                               tmp_path):
    from inference_helpers import reference_scores

    from ldr_mm.apis import CheckpointMismatchError, get_model, inference_model
    img = sorted(glob.glob(osp.join(run.root, 'images', 'test',
                                    '*.png')))[0]
    model = get_model(run.config, pretrained=run.checkpoint)
    ref = reference_scores(run.config, run.checkpoint, [img])[0]
    res = inference_model(model, img)
    assert res['pred_scores'].shape == (10, )
    np.testing.assert_allclose(res['pred_scores'], ref, atol=1e-6)
    # every class at or above 0.5, not the argmax alone
    assert res['pred_label'] == [int(i) for i in np.flatnonzero(ref >= 0.5)]
    res2 = inference_model(run.config, img, pretrained=run.checkpoint,
                           device='cpu')
    np.testing.assert_allclose(res2['pred_scores'], ref, atol=1e-6)

    # strict: a checkpoint with one weight missing is refused (MMPretrain's
    # own get_model would load the rest and warn)
    ckpt = torch.load(run.checkpoint, weights_only=True)
    ckpt['state_dict'].pop('head.bias')
    broken = str(tmp_path / 'broken.pth')
    torch.save(ckpt, broken)
    with pytest.raises(CheckpointMismatchError, match='head.bias'):
        get_model(run.config, pretrained=broken)
    # a name of the index with a checkpoint of another width: refused
    with pytest.raises(CheckpointMismatchError, match='different shape'):
        get_model('ldr_r18_demo_stage1', pretrained=run.checkpoint)
    with pytest.raises(ValueError, match='No checkpoint given'):
        inference_model('ldr_r18_demo_stage1', img)


@pytest.mark.slow
def test_versions_in_checkpoint_meta_and_log(run):
    import mmpretrain

    import ldr_mm
    meta = torch.load(run.checkpoint, weights_only=True)['meta']
    assert meta['ldr_mm_version'] == ldr_mm.__version__
    assert meta['mmpretrain_version'] == mmpretrain.__version__
    assert meta['versions']['torch'] == torch.__version__
    logs = glob.glob(osp.join(run.work_dir, '*', '*.log'))
    assert logs
    text = open(logs[0]).read()
    assert f'Versions: ldr_mm {ldr_mm.__version__}, mmpretrain ' \
        f'{mmpretrain.__version__}' in text
