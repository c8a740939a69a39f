"""Parity details of the tools (issue 14.8): label tools on metadata alone,
shell launchers' usage, slurm scripts, tools/infer.py's exit on a single
unreadable image."""
import os
import os.path as osp
import subprocess

import pytest

from conftest import REPO
from inference_helpers import load_tool
from medical_helpers import shared_file

dist_tool = load_tool('analysis_tools/label_distribution.py')


def test_label_distribution_on_the_nih_metadata_alone(tmp_path, capsys):
    """The real NIH CSV with no image on disk: the paper's counts."""
    csv = shared_file('nih_chestxray14', 'Data_Entry_2017_v2020.csv.gz')
    root = tmp_path / 'nih'
    root.mkdir()
    os.symlink(csv, root / osp.basename(csv))
    cfg = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r50_nih_stage1.py')
    res = dist_tool.main([cfg, '--out-dir', str(tmp_path / 'out'),
                          '--cfg-options',
                          f'train_dataloader.dataset.data_root={root}'])
    sl = res['labels']
    counts = dict(zip(sl.classes, sl.counts.tolist()))
    # the paper's NIH split: Pneumonia 1,021 images ("head"), Nodule 4,501
    assert counts['Pneumonia'] == 1021 and counts['Nodule'] == 4501
    assert len(sl.labels) == 78484
    assert osp.isfile(res['distribution']) and osp.isfile(res['cooccurrence'])
    assert 'Hernia' in capsys.readouterr().out


@pytest.mark.parametrize('script,nargs', [
    ('dist_train.sh', 0), ('dist_train.sh', 1), ('dist_test.sh', 2),
    ('slurm_train.sh', 3), ('slurm_test.sh', 0)])
def test_launchers_print_their_usage(script, nargs):
    res = subprocess.run(['bash', osp.join(REPO, 'tools', script)] +
                         ['x'] * nargs, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1
    assert res.stderr.startswith('Usage:') or 'Usage:' in res.stderr
    assert script in res.stderr


def test_dist_train_refuses_a_non_number_of_processes():
    res = subprocess.run(['bash', osp.join(REPO, 'tools', 'dist_train.sh'),
                          'cfg.py', 'eight'], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1
    assert "NUM_PROCS must be a number, got 'eight'" in res.stderr


@pytest.mark.parametrize('script,extra', [
    ('slurm_train.sh', ['--work-dir=WD', '--launcher=slurm']),
    ('slurm_test.sh', ['CKPT', '--launcher=slurm'])])
def test_slurm_scripts_call_srun_like_mmpretrain(tmp_path, script, extra):
    """A stand-in ``srun`` on PATH records its arguments."""
    log = tmp_path / 'srun.args'
    fake = tmp_path / 'srun'
    fake.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {log}\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f'{tmp_path}:{os.environ["PATH"]}',
               GPUS='16', GPUS_PER_NODE='8', SRUN_ARGS='--quotatype=auto')
    fourth = 'CKPT' if script == 'slurm_test.sh' else 'WD'
    res = subprocess.run(
        ['bash', osp.join(REPO, 'tools', script), 'part', 'job', 'cfg.py',
         fourth, '--cfg-options', 'a=1'], env=env, capture_output=True,
        text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    args = log.read_text().split('\n')[:-1]
    assert args[:7] == ['-p', 'part', '--job-name=job', '--gres=gpu:8',
                        '--ntasks=16', '--ntasks-per-node=8',
                        '--cpus-per-task=5']
    assert '--kill-on-bad-exit=1' in args and '--quotatype=auto' in args
    tool = 'train.py' if script == 'slurm_train.sh' else 'test.py'
    i = next(k for k, a in enumerate(args) if a.endswith(tool))
    assert args[i - 1] == '-u'
    assert args[i + 1:] == ['cfg.py'] + extra + ['--cfg-options', 'a=1']


def test_test_tool_amp_without_gpu_is_refused(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present: --amp is allowed here')
    test_tool = load_tool('test.py')
    cfg = osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage1.py')
    args = test_tool.parse_args([cfg, 'ckpt.pth', '--amp'])
    from mmengine.config import Config
    with pytest.raises(SystemExit, match='--amp needs a GPU'):
        test_tool.apply_output_args(Config.fromfile(cfg), args)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    from inference_helpers import make_tiny_run
    return make_tiny_run(str(tmp_path_factory.mktemp('tools_parity')))


@pytest.mark.slow
def test_test_tool_show_dir(run, tmp_path):
    """--show-dir writes one picture per --interval images, drawn with the
    class names (MMPretrain's VisualizationHook on multi-label samples)."""
    import glob

    import cv2
    test_tool = load_tool('test.py')
    show = tmp_path / 'show'
    test_tool.main([run.config, run.checkpoint, '--show-dir', str(show),
                    '--interval', '5', '--bootstrap', '0'])
    files = sorted(glob.glob(str(show / '*.png')))
    # 12 test images, every 5th: samples 0, 5, 10
    assert len(files) == 3
    img = cv2.imread(files[0])
    assert img is not None and img.std() > 5


@pytest.mark.slow
def test_infer_single_unreadable_image_exits_with_the_message(run, tmp_path):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'nope')
    res = subprocess.run(
        [os.sys.executable, osp.join(REPO, 'tools', 'infer.py'), run.config,
         run.checkpoint, str(bad)], capture_output=True, text=True,
        timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    assert res.returncode == 1
    assert 'Error: Cannot read image' in res.stderr and 'bad.png' in \
        res.stderr
    assert 'Traceback' not in res.stderr
    infer_tool = load_tool('infer.py')
    with pytest.raises(SystemExit, match='^Error: Input .*no.png'):
        infer_tool.cli([run.config, run.checkpoint, str(tmp_path / 'no.png')])


def test_verify_dataset_with_load_medical_image(demo_root, tmp_path, capsys):
    """tools/misc/verify_dataset.py names a corrupt and a missing image of
    the split (read with the pipeline's LoadMedicalImage)."""
    import glob
    import shutil

    from conftest import write_tiny_config
    root = str(tmp_path / 'data')
    shutil.copytree(demo_root, root)
    cfg = write_tiny_config(tmp_path / 'cfg.py', root, str(tmp_path / 'w'))
    tool = load_tool('misc/verify_dataset.py')
    log = tmp_path / 'broken.log'
    assert tool.main([cfg, '--split', 'val', '--out-path', str(log)]) == []
    assert 'All 16 samples of the val split load' in capsys.readouterr().out
    imgs = sorted(glob.glob(osp.join(root, 'images', 'val', '*.png')))
    with open(imgs[3], 'wb') as f:
        f.write(b'not a png')
    os.remove(imgs[7])
    with pytest.raises(SystemExit) as e:
        tool.main([cfg, '--split', 'val', '--out-path', str(log)])
    assert e.value.code == 1
    lines = log.read_text().splitlines()
    assert [ln.split('\t')[0] for ln in lines] == [imgs[3], imgs[7]]
    assert 'does not exist' in lines[1]
    out = capsys.readouterr().out
    assert 'with LoadMedicalImage' in out and '2 of 16 samples' in out
