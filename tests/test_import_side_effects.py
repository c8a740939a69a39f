"""`import ldr_mm` only registers (issue 24.2): MMPretrain's `get_model` /
`inference_model` and MMEngine's file backends stay the originals; the
checkpoints of every config are still written atomically, by opting in."""
import glob
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config

from conftest import REPO

CHECK = r'''
import mmpretrain, mmpretrain.apis, mmpretrain.apis.model as model_mod
from mmengine.fileio import io as mm_io
from mmengine.fileio.backends import registry_utils as reg

names = ('get_model', 'inference_model', 'list_models', 'init_model')
before = {(m.__name__, n): getattr(m, n)
          for m in (mmpretrain, mmpretrain.apis, model_mod) for n in names}
backends, prefixes = dict(reg.backends), dict(reg.prefix_to_backends)
local = mm_io.get_file_backend('/tmp/x.pth')

import ldr_mm  # noqa: E402

for key, fn in before.items():
    now = getattr(mmpretrain if key[0] == 'mmpretrain' else
                  mmpretrain.apis if key[0] == 'mmpretrain.apis' else
                  model_mod, key[1])
    assert now is fn, f'{key} was replaced by {now}'
new = {k: v for k, v in reg.backends.items() if k not in backends}
assert {k: reg.backends[k] for k in backends} == backends, 'backend changed'
assert list(new) == ['atomic_local'], new
assert reg.prefix_to_backends == prefixes, 'a path prefix was re-bound'
assert type(mm_io.get_file_backend('/tmp/x.pth')) is type(local)
assert type(local).__name__ == 'LocalBackend'
print('ok')
'''


def test_import_ldr_mm_changes_no_other_library():
    env = dict(os.environ, PYTHONPATH=REPO)
    res = subprocess.run([sys.executable, '-c', CHECK], capture_output=True,
                         text=True, env=env, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == 'ok', \
        res.stdout + res.stderr[-3000:]


def test_every_config_writes_its_checkpoints_atomically():
    """The opt-in of default_runtime.py reaches every config that trains."""
    paths = sorted(glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                             recursive=True))
    checked = 0
    for path in paths:
        if f'{os.sep}_base_{os.sep}' in path:
            continue
        hook = Config.fromfile(path).get('default_hooks', {}).get(
            'checkpoint')
        if hook is None:
            continue
        assert hook.get('backend_args') == dict(backend='atomic_local'), \
            path
        checked += 1
    assert checked >= 50
