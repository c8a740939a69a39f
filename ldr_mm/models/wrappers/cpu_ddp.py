"""DistributedDataParallel for CPU (gloo) processes."""
from mmengine.model import MMDistributedDataParallel
# MMEngine's root registry on purpose: Runner.wrap_model looks wrapper types
# up with MODEL_WRAPPERS.get(), which does not search child registries.
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """:class:`MMDistributedDataParallel` that also works on CPU.

    MMEngine's runner always passes ``device_ids=[LOCAL_RANK]``, which
    ``torch.nn.parallel.DistributedDataParallel`` refuses for a module on the
    CPU. For CPU modules this wrapper drops ``device_ids`` (DDP's CPU mode);
    on GPU it behaves exactly like its parent. ``tools/train.py`` selects it
    when ``--launcher pytorch`` runs without a GPU.
    """

    def __init__(self, module, device_ids=None, **kwargs):
        first = next(module.parameters(), None)
        if first is not None and first.device.type == 'cpu':
            device_ids = None
        super().__init__(module=module, device_ids=device_ids, **kwargs)
