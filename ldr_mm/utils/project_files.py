"""Where the project's configs, tools and model index are.

A git checkout keeps them beside the package (``configs/``, ``tools/``,
``model-index.yml`` next to ``ldr_mm/``); an installed wheel carries them in
``ldr_mm/.mim/``, the layout OpenMMLab's ``mim`` reads (``setup.py``
copies them there when it builds the wheel).
"""
import os.path as osp

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))


def project_root() -> str:
    """The folder holding ``configs/``, ``tools/`` and ``model-index.yml``.

    Returns:
        str: ``ldr_mm/.mim`` of an installed wheel, else the checkout that
        holds the package (also an editable install).
    """
    mim = osp.join(PACKAGE_DIR, '.mim')
    if osp.isfile(osp.join(mim, 'model-index.yml')):
        return mim
    return osp.dirname(PACKAGE_DIR)
