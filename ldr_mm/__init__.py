"""ldr_mm: LDRNet (Label Decoupling and Reconstruction, ACM MM 2024) for
MMPretrain.

Importing the package only registers: its components in MMPretrain's
registries (configs load it with ``custom_imports = dict(imports=['ldr_mm'])``),
its model names in MMPretrain's model index, the ``atomic_local`` file backend
in MMEngine's backend registry (a new name that checkpoint hooks opt into with
``backend_args=dict(backend='atomic_local')``, as ``default_runtime.py``
does; see :func:`ldr_mm.utils.register_atomic_local_backend`), and the
globals of MMEngine checkpoints in torch's weights-only allow-list (only
MMEngine's own message-hub types). MMPretrain's functions and MMEngine's
``local`` backend are left as they are (``tests/test_import_side_effects.py``).
"""
import warnings

try:
    import mmcv  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the install
    raise ImportError(
        'ldr_mm needs the `mmcv` package: `pip install mmcv-lite==2.2.0` '
        '(CPU, no compiled ops) or full `mmcv>=2.0.0,<2.4.0` (GPU); see the '
        'README.') from e


# mmcv-lite has no compiled ops: importing mmcv's transformer bricks (done by
# every `import mmpretrain`) warns that MultiScaleDeformableAttention is
# missing, in every tool. ldr_mm never uses it (nor does MMPretrain's
# classification code), so the bricks are imported once here with exactly
# that warning filtered; later imports are cached and print nothing. Code
# that needs the op still fails when it uses it (full mmcv has it).
with warnings.catch_warnings():
    warnings.filterwarnings(
        'ignore', message=r'Fail to import ``MultiScaleDeformableAttention``',
        category=UserWarning)
    import mmcv.cnn.bricks.transformer  # noqa: F401,E402

from .version import __version__  # noqa: E402
from .utils.checkpoint import register_safe_globals  # noqa: E402
from .utils.fileio import register_atomic_local_backend  # noqa: E402

register_safe_globals()
register_atomic_local_backend()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
from . import reconstruction  # noqa: E402,F401
from . import visualization  # noqa: E402,F401  (MultiLabelReportPlots)

__all__ = ['__version__', 'register_safe_globals']
from . import apis  # noqa: E402,F401  (inference API, MultiLabelInferencer)
