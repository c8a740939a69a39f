"""Install ldr_mm, the LDRNet plugin for MMPretrain.

``pip install -e .`` installs the package with the tested dependency ranges of
``requirements/runtime.txt``. mmcv is left out of ``install_requires`` on
purpose, as MMPretrain itself does: a CPU machine installs ``mmcv-lite`` (no
compiled ops, seconds to install) and a GPU machine installs full ``mmcv``;
both provide the ``mmcv`` package and ldr_mm needs no ``mmcv.ops``. Use the
extras ``[lite]`` or ``[full]`` to have pip pick one for you.
"""
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))

#: Copied into the wheel under ``ldr_mm/.mim/``: the layout OpenMMLab's
#: ``mim`` (``mim train ldr_mm CONFIG``, ``mim test``) and ldr_mm's model
#: index look for in an installed package (as MMPretrain's
#: ``add_mim_extension``).
MIM_FILES = ('configs', 'tools', 'model-index.yml')
#: Left out of the copy of ``tools``: the research harness (the benchmark
#: suite, its package and the scripts built on it) works from a checkout
#: only and is no part of the installed package.
MIM_EXCLUDE = ('benchmark', 'benchmark_suite.py', 'run_demo.py',
               'stage1_val_sweep.py')


def read_requirements(name):
    """Return the requirement lines of ``requirements/<name>``."""
    lines = []
    with open(osp.join(HERE, 'requirements', name)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                lines.append(line)
    return lines


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into
    ``<build_lib>/ldr_mm/.mim`` (the wheel), never into the source tree.

    MMPretrain's ``add_mim_extension`` copies them into the source package
    before ``setup()``; copying into the build folder instead leaves no stale
    copy beside the checkout's own files. An editable install needs none: it
    reads the checkout (``ldr_mm.utils.project_files``).
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = osp.join(self.build_lib, 'ldr_mm', '.mim')
        ignore = shutil.ignore_patterns('__pycache__', '*.pyc')
        tools_ignore = shutil.ignore_patterns('__pycache__', '*.pyc',
                                              *MIM_EXCLUDE)
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(target, name)
            if osp.isdir(dst):
                shutil.rmtree(dst)
            if osp.isdir(src):
                shutil.copytree(src, dst, ignore=tools_ignore
                                if name == 'tools' else ignore)
            else:
                self.mkpath(target)
                shutil.copyfile(src, dst)


def get_version():
    scope = {}
    with open(osp.join(HERE, 'ldr_mm', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


setup(
    name='ldr_mm',
    version=get_version(),
    description='LDRNet (Label Decoupling and Reconstruction, ACM MM 2024) '
    'for MMPretrain: long-tailed multi-label medical image recognition',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.9',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'benchmarks',
                                    'docs')),
    include_package_data=True,
    install_requires=read_requirements('runtime.txt'),
    extras_require={
        'tests': read_requirements('tests.txt'),
        'lite': ['mmcv-lite>=2.0.0,<2.4.0'],
        'full': ['mmcv>=2.0.0,<2.4.0'],
        # DICOM / NIfTI input of LoadMedicalImage (optional)
        'medical': ['pydicom>=3.0,<4', 'nibabel>=5.2,<6'],
    },
    cmdclass={'build_py': BuildPyWithMim},
    zip_safe=False,
)
