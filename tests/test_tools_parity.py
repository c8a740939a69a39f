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
