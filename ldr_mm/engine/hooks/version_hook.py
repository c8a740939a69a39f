"""Record the ldr_mm and MMPretrain versions in the log and checkpoints."""
from typing import Dict

from mmengine.hooks import Hook

from mmpretrain.registry import HOOKS


def package_versions() -> Dict[str, str]:
    """Versions (plain strings) of ldr_mm and the stack it runs on."""
    import mmcv
    import mmengine
    import torch

    import mmpretrain
    from ldr_mm.version import __version__
    # plain str: torch.__version__ is a TorchVersion, which a weights-only
    # checkpoint load would refuse
    return dict(ldr_mm=str(__version__),
                mmpretrain=str(mmpretrain.__version__),
                mmengine=str(mmengine.__version__), mmcv=str(mmcv.__version__),
                torch=str(torch.__version__))


@HOOKS.register_module()
class VersionInfoHook(Hook):
    """Log the package versions at the start of every run (training or
    testing) and store them in every checkpoint's ``meta``.

    MMEngine records only its own version (``meta.mmengine_version``); this
    adds ``meta.ldr_mm_version`` and ``meta.mmpretrain_version`` (and
    ``meta.versions`` with mmcv and torch), so a checkpoint says which code
    made it. In ``configs/_base_/default_runtime.py``'s ``custom_hooks``.
    """
    priority = 'VERY_LOW'

    def before_run(self, runner) -> None:
        runner.logger.info('Versions: ' + ', '.join(
            f'{k} {v}' for k, v in package_versions().items()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        v = package_versions()
        meta = checkpoint.setdefault('meta', {})
        meta.update(ldr_mm_version=v['ldr_mm'],
                    mmpretrain_version=v['mmpretrain'], versions=v)
