"""One-stage LDR: OnlineReconstructionHook through MMEngine's runner."""
import os.path as osp

import pytest
import torch

from conftest import REPO, load_tiny_cfg

ONLINE_CONFIGS = ('ldr_r18_demo_online', 'ldr_r18_mnistlt_online',
                  'ldr_r50_odir_online')


class _Recorder:
    """Independent record of the train-mode neck outputs and data samples of
    every training iteration (forward hooks of its own)."""

    def __init__(self, model):
        self.batches, self._samples = [], None
        model.register_forward_pre_hook(self._pre, with_kwargs=True)
        model.neck.register_forward_hook(self._post)

    def _pre(self, module, args, kwargs):
        if module.training and kwargs.get('mode') == 'loss':
            self._samples = kwargs['data_samples']

    def _post(self, module, args, output):
        if module.training and self._samples is not None:
            self.batches.append((output[-1].detach().clone(), self._samples))
        self._samples = None


def online_cfg(root, work, statistics='epoch', max_iters=4, interval=2,
               ckpt_interval=2, **hook_options):
    cfg = load_tiny_cfg(root, work, max_iters=max_iters, val_interval=2,
                        ckpt_interval=ckpt_interval)
    cfg.custom_hooks = cfg.custom_hooks + [dict(
        type='OnlineReconstructionHook', statistics=statistics,
        interval=interval, **hook_options)]
    return cfg


def run(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    return runner


def _hook(runner):
    return [h for h in runner.hooks
            if type(h).__name__ == 'OnlineReconstructionHook'][0]


def test_final_head_is_the_closed_form_fit_of_the_last_batches(
        demo_root, tmp_path):
    """4 iterations, refit every 2: the checkpoint's and the model's head
    is lda_m_step (blend 0.5) of the statistics of iterations 3-4 with the
    trained head as anchor; the trained head is in the hook state."""
    from ldr_mm.models.heads.label_mask import gt_mask_of
    from ldr_mm.reconstruction import (GaussianAccumulator, lda_m_step,
                                       sampling_probability)
    work = str(tmp_path / 'w')
    runner = run(online_cfg(demo_root, work))
    rec = _Recorder(runner.model)
    runner.train()
    assert len(rec.batches) == 4
    ckpt = torch.load(osp.join(work, 'iter_4.pth'), weights_only=True)
    state = ckpt['ldr_online_reconstruction']
    w_tr, b_tr = state['trained_head']
    head = runner.model.head
    acc = GaussianAccumulator(head.num_classes, head.in_channels)
    for x, samples in rec.batches[2:]:
        y = head.targets(samples) >= 0.5
        acc.update(x, y, gt_mask_of(samples, y.shape[1], x.device))
    classes = runner.train_dataloader.dataset.metainfo['classes']
    stats = acc.compute(classes=classes)
    prob = sampling_probability(stats.positive_counts,
                                num_samples=stats.known_counts)
    w, b = w_tr.clone(), b_tr.clone()
    lda_m_step(w, b, stats, prob, blend=0.5, anchor=(w_tr, b_tr))
    sd = ckpt['state_dict']
    torch.testing.assert_close(sd['head.weight'], w)
    torch.testing.assert_close(sd['head.bias'], b)
    assert not torch.allclose(sd['head.weight'], w_tr)  # not the trained
    torch.testing.assert_close(state['refit_head'][0], w)
    # the model in memory holds the refitted head after training
    torch.testing.assert_close(head.weight.detach(), w)
    assert state['refits'] == 2
    assert float(state['sums']['n'].sum()) == 0  # 'epoch': reset


@pytest.mark.slow
def test_validation_scores_the_refitted_head(demo_root, tmp_path):
    """The metrics validated at iteration 4 are those of the checkpoint
    (with its refitted head), not of the trained head."""
    work = str(tmp_path / 'w')
    runner = run(online_cfg(demo_root, work))
    runner.train()
    logged = runner.message_hub.get_scalar('val/mAP/mean').current()
    from mmengine.runner import Runner
    cfg = online_cfg(demo_root, str(tmp_path / 't'))
    cfg.load_from = osp.join(work, 'iter_4.pth')
    cfg.test_dataloader, cfg.test_evaluator = (cfg.val_dataloader,
                                               cfg.val_evaluator)
    metrics = Runner.from_cfg(cfg).test()
    assert metrics['mAP/mean'] == pytest.approx(logged, abs=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize('statistics', ['epoch', 'ema'])
def test_resume_gives_the_uninterrupted_head(demo_root, tmp_path,
                                             statistics):
    """4 iterations vs 3 + --resume to 4 (refit every 2, a checkpoint every
    iteration: the iteration-3 checkpoint holds one batch of unconsumed
    sums): the same final checkpoint, refitted head and hook state."""
    full = str(tmp_path / 'full')
    run(online_cfg(demo_root, full, statistics, ckpt_interval=1)).train()
    part = str(tmp_path / 'part')
    cfg = online_cfg(demo_root, part, statistics, ckpt_interval=1)
    runner = run(cfg)
    # stop after iteration 3 (as a killed run): max_iters stays 4
    runner.train_loop  # noqa: B018  (builds the loop)
    runner.train_loop.stop_training = False
    orig = runner.train_loop.run_iter

    def run_iter(data_batch):
        orig(data_batch)
        if runner.train_loop.iter == 3:
            raise KeyboardInterrupt
    runner.train_loop.run_iter = run_iter
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert osp.isfile(osp.join(part, 'iter_3.pth'))
    assert not osp.exists(osp.join(part, 'iter_4.pth'))
    cfg = online_cfg(demo_root, part, statistics, ckpt_interval=1)
    cfg.resume = True
    run(cfg).train()
    a = torch.load(osp.join(full, 'iter_4.pth'), weights_only=True)
    b = torch.load(osp.join(part, 'iter_4.pth'), weights_only=True)
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    sa, sb = a['ldr_online_reconstruction'], b['ldr_online_reconstruction']
    for k in ('n', 's', 'ss'):
        assert torch.equal(sa['sums'][k], sb['sums'][k]), k
    for ta, tb in zip(sa['trained_head'] + sa['refit_head'],
                      sb['trained_head'] + sb['refit_head']):
        assert torch.equal(ta, tb)
    mid = torch.load(osp.join(part, 'iter_3.pth'), weights_only=True)
    assert float(mid['ldr_online_reconstruction']['sums']['n'].sum()) > 0


def test_ema_iterations_leave_the_covariance_sums_alone(demo_root,
                                                       tmp_path):
    """statistics='ema' through the runner (4 iterations of batch 4, one
    refit at the end, a 256-sample buffer): the hook's per-iteration decay
    and update do not read or write the C x 2 x D x D sums (their in-place
    version counter does not move; the old eager decay flushed and scaled
    them every iteration); the refit's flush is the first write."""
    from mmengine.hooks import Hook
    cfg = online_cfg(demo_root, str(tmp_path / 'w'), 'ema', interval=4,
                     ckpt_interval=4, momentum=0.1)
    # no validation: its best checkpoint would read (flush) the sums
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    runner = run(cfg)
    versions = []

    class Spy(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            versions.append(_hook(runner).acc.ss._version)

    runner.register_hook(Spy())
    runner.train()
    assert _hook(runner).acc.buffer_size == 256
    assert versions[:3] == [0, 0, 0]  # iterations 1-3: buffered only
    assert versions[3] >= 1  # iteration 4: the refit flushed
    assert float(_hook(runner).acc.n.sum()) > 0


def test_bad_options_fail_with_the_setting_named():
    from ldr_mm.engine.hooks import OnlineReconstructionHook
    with pytest.raises(ValueError, match='statistics must be one of'):
        OnlineReconstructionHook(statistics='window')
    with pytest.raises(ValueError, match='momentum'):
        OnlineReconstructionHook(statistics='ema', momentum=1.5)
    with pytest.raises(ValueError, match="m_solver must be dict\\(type='lda'"):
        OnlineReconstructionHook(m_solver=dict(type='sgd'))
    with pytest.raises(ValueError, match='interval'):
        OnlineReconstructionHook(interval=0)
    with pytest.raises(ValueError, match='ema_epochs'):
        OnlineReconstructionHook(statistics='ema', ema_epochs=0)


def test_ema_epochs_sets_the_momentum_from_the_epoch_length(demo_root,
                                                             tmp_path):
    """ema_epochs=2 with 12 iterations per epoch: momentum 1/24."""
    cfg = online_cfg(demo_root, str(tmp_path / 'w'), 'ema', ema_epochs=2,
                     max_iters=1)
    runner = run(cfg)
    runner.train()
    assert len(runner.train_dataloader) == 12  # 48 images, batch 4
    assert _hook(runner).momentum == pytest.approx(1 / 24)


@pytest.mark.parametrize('name', ONLINE_CONFIGS)
def test_online_configs_resolve(name):
    """Each online config is its stage-1 config plus the hook."""
    from mmengine.config import Config

    from mmpretrain.registry import HOOKS
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet', f'{name}.py'))
    stage1 = Config.fromfile(osp.join(
        REPO, 'configs', 'ldrnet', name.replace('_online', '_stage1') + '.py'))
    hook = cfg.custom_hooks[-1]
    assert hook['type'] == 'OnlineReconstructionHook'
    assert cfg.custom_hooks[:-1] == stage1.custom_hooks
    assert cfg.model == stage1.model and cfg.train_cfg == stage1.train_cfg
    HOOKS.build(dict(hook))


RECORDER_MODULE = '''
import os.path as osp
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class RecordOnlineBatches(Hook):
    """Test hook: each rank saves its train-mode class features, labels and
    final heads."""
    priority = 'LOWEST'

    def before_train(self, runner):
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        self.batches, self._samples = [], None

        def pre(module, args, kwargs):
            if module.training and kwargs.get('mode') == 'loss':
                self._samples = kwargs['data_samples']

        def post(module, args, output):
            if module.training and self._samples is not None:
                y = model.head.targets(self._samples) >= 0.5
                self.batches.append((output[-1].detach().clone(), y))
            self._samples = None
        model.register_forward_pre_hook(pre, with_kwargs=True)
        model.neck.register_forward_hook(post)

    def after_run(self, runner):
        model = runner.model
        model = model.module if is_model_wrapper(model) else model
        torch.save(dict(batches=self.batches,
                        head=[model.head.weight.detach().clone(),
                              model.head.bias.detach().clone()]),
                   osp.join(runner.work_dir, f'rank{get_rank()}.pth'))
'''


@pytest.mark.slow
def test_two_ranks_refit_from_the_all_reduced_statistics(demo_root,
                                                         tmp_path):
    """2 gloo ranks: both end with the same refitted head, and it is the
    closed-form fit of the statistics of both ranks' batches together."""
    import os
    import socket
    import subprocess
    import sys

    from ldr_mm.reconstruction import (GaussianAccumulator, lda_m_step,
                                       sampling_probability)
    (tmp_path / 'record_online.py').write_text(RECORDER_MODULE)
    work = str(tmp_path / 'ddp')
    cfg = online_cfg(demo_root, work, 'ema', momentum=0.1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.custom_imports = dict(imports=['ldr_mm', 'record_online'],
                              allow_failed_imports=False)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='RecordOnlineBatches')]
    cfg.dump(str(tmp_path / 'cfg.py'))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=os.pathsep.join(
        [REPO, str(tmp_path)]))
    proc = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
         f'--master_port={port}', osp.join(REPO, 'tools', 'train.py'),
         str(tmp_path / 'cfg.py'), '--launcher', 'pytorch'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = (torch.load(osp.join(work, f'rank{r}.pth'), weights_only=True)
              for r in (0, 1))
    torch.testing.assert_close(r0['head'], r1['head'], rtol=0, atol=0)
    ckpt = torch.load(osp.join(work, 'iter_4.pth'), weights_only=True)
    state = ckpt['ldr_online_reconstruction']
    w_tr, b_tr = state['trained_head']
    C, D = r0['batches'][0][0].shape[1:]
    acc = GaussianAccumulator(C, D)
    for it in range(4):  # ema: decay 0.1 per iteration, both ranks' batch
        acc.state_dict()
        for t in (acc.n, acc.s, acc.ss):
            t.mul_(0.9)
        for r in (r0, r1):
            acc.update(*r['batches'][it])
    acc.state_dict()  # flush
    for k in ('n', 's', 'ss'):  # all of it on rank 0's checkpoint
        torch.testing.assert_close(state['sums'][k], getattr(acc, k))
    classes = ckpt['meta']['dataset_meta']['classes']
    stats = acc.compute(classes=classes)
    prob = sampling_probability(stats.positive_counts,
                                num_samples=stats.known_counts)
    w, b = w_tr.clone(), b_tr.clone()
    lda_m_step(w, b, stats, prob, blend=0.5, anchor=(w_tr, b_tr))
    torch.testing.assert_close(r0['head'][0], w)
    torch.testing.assert_close(r0['head'][1], b)


def test_eval_pass_refits_from_stage2_statistics(demo_root, tmp_path):
    """eval_pass=True: the last refit is stage 2's M-step on the final
    trained model (statistics pass in eval mode, test pipeline)."""
    from mmpretrain.registry import DATASETS
    from ldr_mm.reconstruction import (build_statistics_dataloader,
                                       estimate_class_statistics,
                                       lda_m_step, sampling_probability,
                                       statistics_dataset,
                                       statistics_loader_options)
    work = str(tmp_path / 'w')
    cfg = online_cfg(demo_root, work, eval_pass=True)
    runner = run(cfg)
    runner.train()
    ckpt = torch.load(osp.join(work, 'iter_4.pth'), weights_only=True)
    w_tr, b_tr = ckpt['ldr_online_reconstruction']['trained_head']
    model = runner.model
    with torch.no_grad():
        model.head.weight.copy_(w_tr)
        model.head.bias.copy_(b_tr)
    ds = statistics_dataset(DATASETS.build(cfg.train_dataloader.dataset),
                            cfg.test_dataloader.dataset.pipeline)
    stats, _ = estimate_class_statistics(
        model, build_statistics_dataloader(  # the hook's batches
            ds, **statistics_loader_options(cfg, {})),
        classes=ckpt['meta']['dataset_meta']['classes'])
    assert stats.num_samples == 48  # every training image once
    prob = sampling_probability(stats.positive_counts,
                                num_samples=stats.known_counts)
    w, b = w_tr.clone(), b_tr.clone()
    lda_m_step(w, b, stats, prob, blend=0.5, anchor=(w_tr, b_tr))
    torch.testing.assert_close(ckpt['state_dict']['head.weight'], w)
    torch.testing.assert_close(ckpt['state_dict']['head.bias'], b)
