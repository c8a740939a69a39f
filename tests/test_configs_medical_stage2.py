"""The six stage-2 configs: each fine-tunes a tiny stage-1 checkpoint.

Stage 1 of the same backbone/dataset is trained for 2 iterations on fixture
data in the real formats, then the stage-2 config (shrunk by overrides:
tiny backbone, images, 1 E-step per round, 2 rounds, a few M-steps) loads it
strictly and runs statistics -> M-step -> E-step -> validation on CPU.
"""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from test_configs_medical import (config_path, data,  # noqa: F401
                                  dataset_of, tiny_cfg, val_scalars)

STAGE2 = [f'ldr_{b}_{d}_stage2' for b in ('r50', 'd121')
          for d in ('nih', 'odir', 'spa')]


def test_stage2_configs_follow_the_paper():
    for name in STAGE2:
        cfg = Config.fromfile(config_path(name))
        assert cfg.model.type == 'LDRStage2Classifier'
        assert cfg.model.head.loss == dict(type='MultiLabelGCELoss', q=0.8)
        loop = cfg.train_cfg  # EMTrainLoop holds the stage-2 options
        assert loop.type == 'EMTrainLoop'
        assert loop.sampler.mode == 'reverse'
        assert loop.sampler.alpha == 0.9 and loop.sampler.eps == 1e-9
        assert loop.rounds >= 1 and loop.e_iters >= 1
        # EMTrainLoop registers it (test_stage2_model.py)
        assert 'GaussianReconstructionHook' not in [h.type
                                                    for h in cfg.custom_hooks]
        stage1 = Config.fromfile(config_path(name.replace('stage2',
                                                          'stage1')))
        assert cfg.model.backbone == stage1.model.backbone or \
            cfg.model.backbone.type == stage1.model.backbone.type
        assert cfg.model.neck.in_channels == stage1.model.neck.in_channels
        assert cfg.train_dataloader == stage1.train_dataloader
        # the other hooks of stage 1 are kept
        assert [h.type for h in stage1.custom_hooks] == \
            [h.type for h in cfg.custom_hooks][:len(stage1.custom_hooks)]


@pytest.mark.slow
@pytest.mark.parametrize('name', STAGE2)
def test_stage2_config_runs(name, data, tmp_path):  # noqa: F811
    torch.manual_seed(0)
    s1 = tiny_cfg(name.replace('stage2', 'stage1'), data,
                  str(tmp_path / 's1'))
    Runner.from_cfg(s1).train()
    ckpt = osp.join(s1.work_dir, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    cfg = tiny_cfg(name, data, str(tmp_path / 's2'))
    cfg.train_cfg.pop('max_epochs')  # tiny_cfg is written for stage 1
    cfg.merge_from_dict({
        'model.stage1_checkpoint': ckpt,
        'train_cfg.rounds': 2,
        'train_cfg.e_iters': 1,
        'train_cfg.m_iters': 3,
        'train_cfg.virtual_batch_size': 8,
        'default_hooks.checkpoint.interval': 2,
    })
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    for r in (1, 2):  # one statistics file per round (1-based, as logged)
        assert osp.isfile(osp.join(cfg.work_dir, 'reconstruction',
                                   f'stats_round{r}.pth'))
    val = val_scalars(runner)
    assert 'auc/mean' in val and 'mAP/mean' in val
    ck = torch.load(osp.join(cfg.work_dir, 'iter_2.pth'), weights_only=True)
    s1_state = torch.load(ckpt, weights_only=True)['state_dict']
    # the head was trained by the M-steps, the backbone by the E-steps
    assert not torch.equal(ck['state_dict']['head.weight'],
                           s1_state['head.weight'])
