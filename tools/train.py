"""Train an ldr_mm (or any MMPretrain) model from a config.

The arguments are MMPretrain's ``tools/train.py`` ones. Differences:
``--launcher pytorch`` also runs on CPU-only machines (gloo, DDP without
``device_ids``), ``--amp`` without a GPU is refused up front, a work dir
that a live run holds is refused (``<work_dir>/.ldr_train.lock``, see
``ldr_mm/utils/work_dir_lock.py``), and the runner is
:class:`ldr_mm.engine.LDRRunner` (unless the config names a
``runner_type``): ``--resume``, auto-resume and ``load_from`` load strictly,
and ``save_best`` chooses the same checkpoint after a kill and ``--resume``.
"""
import argparse
import pickle
import os
import os.path as osp
from copy import deepcopy

import torch  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='If specify checkpoint path, resume from it, while if not '
        'specify, try to auto resume from the latest checkpoint '
        'in the work directory.')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training (GPU only)')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='whether not to evaluate the checkpoint during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='whether to auto scale the learning rate according to the '
        'actual batch size and the original batch size.')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='whether to disable the pin_memory option in dataloaders.')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='whether to disable the persistent_workers option in '
        'dataloaders.')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file. If the value to '
        'be overwritten is a list, it should be like key="[a,b]" or key=a,b '
        'It also allows nested list/tuple values, e.g. key="[(a,b),(c,d)]" '
        'Note that the quotation marks are necessary and that no white space '
        'is allowed.')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    """Merge CLI arguments to config (as MMPretrain's tools/train.py)."""
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None

    cfg.launcher = args.launcher

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp is True:
        if not torch.cuda.is_available():
            raise SystemExit(
                '--amp needs a GPU: MMEngine\'s AmpOptimWrapper refuses CPU '
                'training. Drop --amp on this machine.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True

    default_dataloader_cfg = ConfigDict(
        pin_memory=torch.cuda.is_available(),
        persistent_workers=True,
        collate_fn=dict(type='default_collate'),
    )

    def set_default_dataloader_cfg(cfg, field):
        if cfg.get(field, None) is None:
            return
        dataloader_cfg = deepcopy(default_dataloader_cfg)
        dataloader_cfg.update(cfg[field])
        cfg[field] = dataloader_cfg
        if args.no_pin_memory:
            cfg[field]['pin_memory'] = False
        if args.no_persistent_workers or cfg[field].get('num_workers',
                                                         0) == 0:
            cfg[field]['persistent_workers'] = False

    set_default_dataloader_cfg(cfg, 'train_dataloader')
    set_default_dataloader_cfg(cfg, 'val_dataloader')
    set_default_dataloader_cfg(cfg, 'test_dataloader')

    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
        for field in ('train_dataloader', 'val_dataloader',
                      'test_dataloader'):
            if cfg.get(field) and cfg[field].get('num_workers', 0) == 0:
                cfg[field]['persistent_workers'] = False
    return cfg


def launch_rank(launcher: str) -> int:
    """This process's global rank from the launcher's environment."""
    if launcher == 'none':
        return 0
    for key in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        if key in os.environ:
            return int(os.environ[key])
    return 0


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)

    from ldr_mm.utils.work_dir_lock import WorkDirLockedError, work_dir_lock
    try:
        # one run per work dir; under DDP rank 0 holds it for all ranks
        with work_dir_lock(cfg.work_dir,
                           enabled=launch_rank(args.launcher) == 0):
            _train(cfg)
    except WorkDirLockedError as e:
        raise SystemExit(f'tools/train.py: {e}') from None


def _train(cfg):
    from ldr_mm.utils import cleanup_distributed, setup_cpu_distributed
    from ldr_mm.utils.checkpoint import (CorruptCheckpointError,
                                         check_checkpoint_file,
                                         checkpoint_to_load)
    from ldr_mm.models.weight_init import PretrainedWeightsError
    try:  # MMEngine loads --resume / load_from; say clearly if it is broken
        check_checkpoint_file(checkpoint_to_load(cfg))
    except CorruptCheckpointError as e:
        raise SystemExit(str(e)) from None
    from ldr_mm.engine import LDRRunner
    from ldr_mm.utils import CheckpointMismatchError, UnsafeCheckpointError
    from ldr_mm.utils.checkpoint import refuse_unsafe_checkpoint
    from ldr_mm.utils.run_names import distinct_experiment_name
    distinct_experiment_name(cfg)  # own logger/visualizer per in-process run
    setup_cpu_distributed(cfg)
    ok = False
    try:
        if 'runner_type' not in cfg:  # strict loading, kill-safe save_best
            runner = LDRRunner.from_cfg(cfg)
        else:
            runner = RUNNERS.build(cfg)
        try:
            runner.train()
        except (pickle.UnpicklingError, UnsafeCheckpointError) as e:
            raise refuse_unsafe_checkpoint(
                e, cfg.get('load_from') or checkpoint_to_load(cfg)) from None
        except (CheckpointMismatchError, CorruptCheckpointError) as e:
            # one line: the file, each difference, the fix
            raise SystemExit('tools/train.py: ' + ' '.join(
                line.strip() for line in str(e).splitlines())) from None
        except PretrainedWeightsError as e:  # e.g. offline: one line
            raise SystemExit(f'tools/train.py: {e}') from None
        ok = True
    finally:
        # MMEngine never destroys the process group (NCCL warns at exit)
        cleanup_distributed(barrier=ok)


if __name__ == '__main__':
    main()
