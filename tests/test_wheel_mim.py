"""The wheel installs like an OpenMMLab project (issue 22.6).

Builds the wheel, installs it (``--no-deps``) into a fresh venv that sees
the current environment's packages (torch, MMPretrain, openmim) but not the
checkout, and runs ``mim train ldr_mm ldr_r18_demo_stage1.py`` and
``mim test`` on tiny demo data from there: the configs, tools and model
index come from ``ldr_mm/.mim`` of the installed package. The research
harness (``tools/benchmark/``, the suite and its scripts) is not in the
wheel (issue 24).
"""
import os
import os.path as osp
import site
import re
import subprocess
import sys
import venv
import zipfile

import pytest
from conftest import REPO, TINY_BACKBONE

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f'{cmd}\n{proc.stdout[-4000:]}'
    return proc.stdout


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """(python of a venv with only the wheel installed, its env)."""
    pytest.importorskip('mim', reason='openmim is not installed: '
                        'pip install -r requirements/lock.txt')
    tmp = tmp_path_factory.mktemp('wheel')
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env['OMP_NUM_THREADS'] = '1'
    _run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps',
          '--no-build-isolation', '-w', str(tmp / 'dist'), REPO], REPO, env)
    wheel = [f for f in os.listdir(tmp / 'dist') if f.endswith('.whl')]
    assert len(wheel) == 1, wheel
    with zipfile.ZipFile(tmp / 'dist' / wheel[0]) as z:
        names = z.namelist()
    # the research harness (tools/benchmark, its scripts) stays in the
    # checkout: neither a package nor a .mim tool of the wheel
    harness = [n for n in names if n.startswith('ldr_mm/benchmark') or
               re.search(r'(^|/)(benchmark/|benchmark_suite\.py|'
                         r'run_demo\.py|stage1_val_sweep\.py)', n)]
    assert not harness, harness
    assert 'ldr_mm/.mim/tools/train.py' in names
    venv.EnvBuilder(with_pip=False).create(str(tmp / 'venv'))
    python = str(tmp / 'venv' / 'bin' / 'python')
    purelib = _run([python, '-c', 'import sysconfig; '
                    'print(sysconfig.get_paths()["purelib"])'], tmp,
                   env).strip()
    # the current environment's packages, not the checkout
    outer = [p for p in dict.fromkeys(site.getsitepackages() + sys.path)
             if p.endswith('site-packages') and osp.isdir(p)]
    with open(osp.join(purelib, 'outer_env.pth'), 'w') as f:
        f.write('\n'.join(outer) + '\n')
    _run([sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
          '--no-deps', '--no-index', str(tmp / 'dist' / wheel[0])], tmp, env)
    return python, env, purelib, tmp


def test_installed_package_finds_its_model_index(installed):
    python, env, purelib, tmp = installed
    code = (
        'import importlib.util, ldr_mm, mmpretrain\n'
        'from mmpretrain.apis import ModelHub\n'
        'from ldr_mm.utils.project_files import project_root\n'
        'print(ldr_mm.__file__)\n'
        'print(project_root())\n'
        'print(ModelHub.get("ldr_r18_demo_stage1").config.filename)\n'
        'print(len(mmpretrain.list_models("*ldr*")))\n'
        'print(importlib.util.find_spec("ldr_mm.benchmark"))\n')
    out = _run([python, '-c', code], tmp, env).strip().splitlines()[-5:]
    mim_dir = osp.join(purelib, 'ldr_mm', '.mim')
    assert out[0] == osp.join(purelib, 'ldr_mm', '__init__.py')
    assert out[1] == mim_dir
    assert out[2] == osp.join(mim_dir, 'configs', 'ldrnet',
                              'ldr_r18_demo_stage1.py')
    assert int(out[3]) > 10 and out[4] == 'None'


def _tiny_options(demo_root):
    opts = [
        f'model.backbone.base_channels={TINY_BACKBONE["base_channels"]}',
        f'model.backbone.stem_channels={TINY_BACKBONE["stem_channels"]}',
        'model.neck.in_channels=64',
        f'model.neck.prompt_cache={demo_root}/prompt.pth',
        'train_cfg.max_epochs=1', 'default_hooks.logger.interval=1'
    ]
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={demo_root}',
                 f'{split}_dataloader.batch_size=16',
                 f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    return opts


def test_mim_train_and_test_from_the_wheel(installed, demo_root):
    python, env, purelib, tmp = installed
    work = str(tmp / 'work')
    opts = _tiny_options(demo_root)
    out = _run([python, '-m', 'mim', 'train', 'ldr_mm',
                'ldr_r18_demo_stage1.py', '--work-dir', work,
                '--cfg-options'] + opts, tmp, env)
    mim_tools = osp.join(purelib, 'ldr_mm', '.mim', 'tools', 'train.py')
    assert f'Training command is {python} {mim_tools}' in out
    assert 'Epoch(train) [1][3/3]' in out
    ckpt = osp.join(work, 'epoch_1.pth')
    assert osp.isfile(ckpt)
    out = _run([python, '-m', 'mim', 'test', 'ldr_mm',
                'ldr_r18_demo_stage1.py', '--checkpoint', ckpt,
                '--work-dir', str(tmp / 'test'), '--cfg-options'] + opts,
               tmp, env)
    assert 'Epoch(test) [1/1]' in out and 'auc/mean' in out
