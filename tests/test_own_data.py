"""Your own data through both stages, as the README says (issue 22 item 3).

The README's "Your own data in three steps" block (between the
``own-data:begin`` / ``own-data:end`` markers, the same text as
``docs/own_data.md``) is parsed here: its two configs are written where it
says, and the slow test runs its bash commands verbatim on a small dataset
of real images shipped with installed packages (pydicom's test DICOMs,
matplotlib's MRI sample slice), with a patient column and uncertain labels.
"""
import csv
import glob
import gzip
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config

from conftest import REPO

BEGIN, END = '<!-- own-data:begin -->', '<!-- own-data:end -->'


def own_data_block(path=osp.join(REPO, 'README.md'), begin=BEGIN, end=END):
    text = open(path, encoding='utf-8').read()
    assert text.count(begin) == 1 and text.count(end) == 1, path
    return text[text.index(begin):text.index(end) + len(end)]


def fenced(block, lang):
    return re.findall(rf'```{lang}\n(.*?)```', block, re.S)


def code_lines(text):
    return [ln for ln in text.splitlines()
            if ln.strip() and not ln.strip().startswith('#')]


def readme_configs():
    """{relative path: text} of the README's python blocks (the path is the
    block's first line, a comment)."""
    out = {}
    for code in fenced(own_data_block(), 'python'):
        first = code.splitlines()[0]
        assert first.startswith('# configs/'), first
        out[first[2:].strip()] = code
    return out


def readme_commands():
    """The bash block's commands, continuation lines joined."""
    (code, ) = fenced(own_data_block(), 'bash')
    code = code.replace('\\\n', ' ')
    return [ln.strip() for ln in code.splitlines()
            if ln.strip() and not ln.strip().startswith('#')]


def test_readme_block_is_docs_own_data_and_the_leaves_are_short():
    assert own_data_block() == own_data_block(
        osp.join(REPO, 'docs', 'own_data.md'))
    cfgs = readme_configs()
    (s1, ) = [p for p in cfgs if p.endswith('_stage1.py')]
    (s2, ) = [p for p in cfgs if p.endswith('_stage2.py')]
    assert len(code_lines(cfgs[s1])) <= 10
    assert len(code_lines(cfgs[s2])) <= 8
    cmds = readme_commands()
    assert [c.split()[1] for c in cmds] == [
        'tools/misc/extract_prompt_embeddings.py', 'tools/train.py',
        'tools/train.py', 'tools/test.py', 'tools/infer.py']


def test_every_ldrnet_stage2_leaf_has_at_most_8_lines():
    leaves = sorted(glob.glob(osp.join(REPO, 'configs', 'ldrnet',
                                       '*_stage2*.py')))
    assert len(leaves) >= 15
    for path in leaves:
        n = len(code_lines(open(path).read()))
        assert n <= 8, f'{path}: {n} non-comment lines'


def make_workspace(root):
    """A checkout-like folder: configs/_base_ and tools linked from the
    repository, the README's configs written where it says."""
    os.makedirs(osp.join(root, 'configs'))
    os.symlink(osp.join(REPO, 'configs', '_base_'),
               osp.join(root, 'configs', '_base_'))
    os.symlink(osp.join(REPO, 'tools'), osp.join(root, 'tools'))
    for rel, code in readme_configs().items():
        os.makedirs(osp.dirname(osp.join(root, rel)), exist_ok=True)
        with open(osp.join(root, rel), 'w') as f:
            f.write(code)
    return readme_configs()


def test_readme_configs_resolve_to_both_stages(tmp_path):
    cfgs = make_workspace(str(tmp_path))
    s1, s2 = sorted(cfgs)
    c1 = Config.fromfile(str(tmp_path / s1))
    c2 = Config.fromfile(str(tmp_path / s2))
    for c in (c1, c2):
        for split in ('train', 'val', 'test'):
            ds = c[f'{split}_dataloader'].dataset
            assert ds.type == 'MultiLabelCSVDataset' and ds.split == split
            assert ds.uncertain == 'ignore' and len(ds.classes) == 5
            assert ds.pipeline[-1].algorithm_keys == ('gt_mask', )
        assert c.model.head.num_classes == c.data_preprocessor.num_classes \
            == 5
    assert c2.model.type == 'LDRStage2Classifier'
    assert c2.model.backbone == c1.model.backbone  # any backbone: inherited
    assert c2.train_cfg.type == 'EMTrainLoop'
    assert c2.default_hooks.checkpoint.interval == c2.train_cfg.e_iters
    assert 'GaussianReconstructionHook' in [h.type for h in c2.custom_hooks]
    # the stage-2 leaf is the one in configs/ldrnet/ (same shape)
    nih = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet',
                                   'ldr_r50_nih_stage2.py'))
    for key in ('optim_wrapper', 'param_scheduler', 'log_processor'):
        assert c2[key] == nih[key], key
    # the loop sets log_metric_by_epoch=False (the README's leaf still says
    # it through _base_.ldr_stage2_hooks)
    assert {k: v for k, v in c2.default_hooks.logger.items()
            if k != 'log_metric_by_epoch'} == nih.default_hooks.logger



CSRA_BEGIN = '<!-- own-data-csra:begin -->'
CSRA_END = '<!-- own-data-csra:end -->'


def csra_block():
    """docs/own_data.md's "Stage 2 on a CSRA stage 1" block."""
    return own_data_block(osp.join(REPO, 'docs', 'own_data.md'),
                          CSRA_BEGIN, CSRA_END)


def write_configs(root, block):
    """{relative path: text} of a block's python fences, each written where
    its first line (a comment) says."""
    out = {}
    for code in fenced(block, 'python'):
        rel = code.splitlines()[0][2:].strip()
        assert rel.startswith('configs/'), rel
        os.makedirs(osp.dirname(osp.join(root, rel)), exist_ok=True)
        with open(osp.join(root, rel), 'w') as f:
            f.write(code)
        out[rel] = code
    return out


def test_csra_stage2_leaves_resolve_and_build(tmp_path):
    """The CSRA stage 1 and its stage-2 leaf of docs/own_data.md: short,
    the README leaves' data, the medical CSRA stage 2's model; the stage-2
    model (random init) gives (B, C, 4096) class features to its head."""
    import torch
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    root = str(tmp_path)
    make_workspace(root)
    block = csra_block()
    cfgs = write_configs(root, block)
    (s1, ) = [p for p in cfgs if osp.basename(p).startswith('csra_')]
    (s2, ) = [p for p in cfgs if p.endswith('_stage2_csra.py')]
    assert len(code_lines(cfgs[s1])) <= 10
    assert len(code_lines(cfgs[s2])) <= 8
    cmds = [ln for ln in fenced(block, 'bash')[0].splitlines() if ln.strip()]
    assert cmds == [f'python tools/train.py {s1}', f'python tools/train.py {s2}']
    c1 = Config.fromfile(osp.join(root, s1))
    c2 = Config.fromfile(osp.join(root, s2))
    readme = Config.fromfile(osp.join(root, sorted(readme_configs())[0]))
    for c in (c1, c2):
        for split in ('train', 'val', 'test'):
            key = f'{split}_dataloader'
            assert c[key] == readme[key], key
    assert c1.model.head.type == 'MaskedCSRAClsHead'
    assert c2.model.type == 'CSRAStage2Classifier'
    assert c2.model.stage1_checkpoint == 'work_dirs/csra_r50_mine/epoch_30.pth'
    nih = Config.fromfile(osp.join(REPO, 'configs', 'ldrnet',
                                   'ldr_r50_nih_stage2_csra.py'))
    assert c2.model.features == nih.model.features
    assert c2.model.head.loss == nih.model.head.loss
    for key in ('optim_wrapper', 'param_scheduler', 'log_processor'):
        assert c2[key] == nih[key], key
    assert c2.train_cfg.type == 'EMTrainLoop'

    init_default_scope('mmpretrain')
    model_cfg = c2.model.copy()
    model_cfg.backbone.init_cfg = None  # no ImageNet download
    model_cfg.data_preprocessor = c2.data_preprocessor
    model = MODELS.build(model_cfg).eval()
    assert model.neck.out_channels == model.head.in_channels == 4096
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 64))
    assert feats[0].shape == (1, len(CLASSES), 4096)


# ------------------------------------------------------------------ data
CLASSES = ['Effusion', 'Nodule', 'Mass', 'Edema', 'Fibrosis']


def real_sources():
    """Real 2-D medical images shipped with installed packages:
    ``(name, kind, payload)``: DICOM files to copy, or an MRI array."""
    import pydicom.data
    files = osp.join(osp.dirname(pydicom.data.__file__), 'test_files')
    out = [(f, 'dcm', osp.join(files, f)) for f in
           ('CT_small.dcm', 'MR_small.dcm', 'image_dfl.dcm')]
    mpl = pytest.importorskip('matplotlib')
    ima = osp.join(osp.dirname(mpl.__file__), 'mpl-data', 'sample_data',
                   's1045.ima.gz')
    with gzip.open(ima) as f:  # matplotlib's MRI slice, 256 x 256 uint16
        mri = np.frombuffer(f.read(), np.uint16).reshape(256, 256)
    out.append(('s1045', 'array', mri))
    return out


def write_dataset(root, n_patients=10):
    """``data/mine``: 3 images per patient (the source DICOM or its slice,
    and two 16-bit PNG crops / rotations of it), 5 findings with every class
    in 3+ patients, some uncertain (-1)."""
    import cv2
    import pydicom
    scans = osp.join(root, 'data', 'mine', 'scans')
    os.makedirs(scans)
    sources = real_sources()
    rows = []
    for p in range(n_patients):
        name, kind, payload = sources[p % len(sources)]
        if kind == 'dcm':
            first = f'scans/p{p:03d}_a.dcm'
            shutil.copy(payload, osp.join(root, 'data', 'mine', first))
            img = pydicom.dcmread(payload).pixel_array
        else:
            img = payload
            first = f'scans/p{p:03d}_a.png'
            cv2.imwrite(osp.join(root, 'data', 'mine', first), img)
        img = np.asarray(img).astype(np.float64)
        img = ((img - img.min()) / max(np.ptp(img), 1) * 65535).astype(
            np.uint16)
        h, w = img.shape
        variants = [img[h // 8:, w // 8:], np.rot90(img, 1 + p % 3)]
        paths = [first]
        for k, v in enumerate(variants):
            rel = f'scans/p{p:03d}_{"bc"[k]}.png'
            cv2.imwrite(osp.join(root, 'data', 'mine', rel),
                        np.ascontiguousarray(v))
            paths.append(rel)
        # patient p has findings p % 5 and (p + 2) % 5: each class in 4
        # patients; one image per patient marks a third finding uncertain
        findings = {p % 5, (p + 2) % 5}
        for k, rel in enumerate(paths):
            vals = [int(c in findings) for c in range(5)]
            if k == p % 3:
                vals[(p + 4) % 5] = -1
            rows.append([rel, f'patient{p:02d}'] + vals)
    with open(osp.join(root, 'data', 'mine', 'labels.csv'), 'w',
              newline='') as f:
        w = csv.writer(f)
        w.writerow(['img_path', 'patient_id'] + CLASSES)
        w.writerows(rows)
    return rows


def seed_backbone_weights(root, cfg_path):
    """Offline: put a (randomly initialised) checkpoint where MMEngine's
    download of the config's ImageNet weights looks first (the torch hub
    cache under ``$TORCH_HOME``)."""
    import torch
    from mmpretrain.models import ResNet
    init = Config.fromfile(cfg_path).model.backbone.get('init_cfg') or {}
    url = init.get('checkpoint') or ''
    if not url.startswith('http'):
        return
    state = {f'backbone.{k}': v
             for k, v in ResNet(depth=50, out_indices=(3, )).state_dict()
             .items()}
    hub = osp.join(root, 'torch_home', 'hub', 'checkpoints')
    os.makedirs(hub)
    torch.save(dict(state_dict=state), osp.join(hub, osp.basename(url)))


@pytest.mark.slow
def test_readme_own_data_commands_run_verbatim(tmp_path):
    root = str(tmp_path)
    cfgs = make_workspace(root)
    rows = write_dataset(root)
    assert any(-1 in r for r in rows)
    s1 = [p for p in cfgs if p.endswith('_stage1.py')][0]
    seed_backbone_weights(root, osp.join(root, s1))
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
               TORCH_HOME=osp.join(root, 'torch_home'),
               PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ.get('PATH', ''))
    for cmd in readme_commands():
        proc = subprocess.run(['bash', '-c', cmd], cwd=root, env=env,
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, (
            f'{cmd}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n'
            f'{proc.stderr[-6000:]}')
        if cmd.split()[1] == 'tools/test.py':
            out = proc.stdout + proc.stderr
            assert 'Clinical report' in out and 'Fibrosis' in out
    assert osp.isfile(osp.join(root, 'work_dirs', 'mine_predictions.csv'))
    with open(osp.join(root, 'work_dirs', 'mine_predictions.csv')) as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    assert glob.glob(osp.join(root, 'work_dirs', 'mine_report', '*.png'))



@pytest.mark.slow
def test_csra_stage2_commands_run_with_the_check_options(tmp_path):
    """The two commands of "Stage 2 on a CSRA stage 1", each with the
    quick-check options the text gives, on the real-image dataset: CSRA
    stage 1, then stage 2 from its checkpoint (round 0 and round 1
    validated, a stage-2 checkpoint written)."""
    root = str(tmp_path)
    make_workspace(root)
    cfgs = write_configs(root, csra_block())
    write_dataset(root)
    (s1, ) = [p for p in cfgs if osp.basename(p).startswith('csra_')]
    seed_backbone_weights(root, osp.join(root, s1))
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
               TORCH_HOME=osp.join(root, 'torch_home'),
               PATH=osp.dirname(sys.executable) + os.pathsep +
               os.environ.get('PATH', ''))
    check = ['--cfg-options train_cfg.max_epochs=2',
             '--cfg-options train_cfg.rounds=1 train_cfg.e_iters=2 '
             'model.stage1_checkpoint=work_dirs/csra_r50_mine/epoch_2.pth']
    cmds = [ln for ln in fenced(csra_block(), 'bash')[0].splitlines()
            if ln.strip()]
    for cmd, opts in zip(cmds, check):
        proc = subprocess.run(['bash', '-c', f'{cmd} {opts}'], cwd=root,
                              env=env, capture_output=True, text=True,
                              timeout=1200)
        assert proc.returncode == 0, (
            f'{cmd}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n'
            f'{proc.stderr[-6000:]}')
    work = osp.join(root, 'work_dirs', 'ldr_r50_mine_stage2_csra')
    assert osp.isfile(osp.join(work, 'iter_2.pth'))
    assert osp.isfile(osp.join(work, 'reconstruction', 'stats_round1.pth'))


def test_a_json_list_with_the_csv_keys_reads_like_the_csv(tmp_path):
    import json

    from ldr_mm.datasets import AnnotationError, MultiLabelCSVDataset
    rows = [['a.png', 'p1', 1, 0, -1, 0, 0], ['b.png', 'p1', 0, 1, 0, 0, 1],
            ['c.png', 'p2', 0, 0, 1, 1, 0]]
    for r in rows:
        (tmp_path / r[0]).write_bytes(b'x')
    with open(tmp_path / 'labels.csv', 'w', newline='') as f:
        csv.writer(f).writerows([['img_path', 'patient_id'] + CLASSES] +
                                rows)
    recs = [dict(img_path=r[0], patient_id=r[1], **dict(zip(CLASSES, r[2:])))
            for r in rows]
    (tmp_path / 'labels.json').write_text(json.dumps(recs))
    names = [dict(img_path=r['img_path'], patient_id=r['patient_id'],
                  labels=[c for c in CLASSES if r[c] == 1]) for r in recs]
    (tmp_path / 'names.json').write_text(json.dumps({'data_list': names}))
    kw = dict(data_root=str(tmp_path), split='all', classes=CLASSES,
              patient_column='patient_id')

    def samples(**extra):
        ds = MultiLabelCSVDataset(**kw, **extra)
        return [ds.get_data_info(i) for i in range(len(ds))]

    def strip(infos):  # sample_idx aside
        return [{k: v for k, v in d.items() if k != 'sample_idx'}
                for d in infos]

    want = strip(samples(ann_file='labels.csv', uncertain='ignore'))
    assert strip(samples(ann_file='labels.json', uncertain='ignore')) == want
    assert [d['gt_label'] for d in samples(ann_file='names.json',
                                           labels_column='labels')] == \
        [d['gt_label'] for d in want]
    (tmp_path / 'bad.json').write_text(json.dumps([{'img_path': 'a.png'}]))
    with pytest.raises(AnnotationError,
                       match=r'bad.json" record 0 lacks the key'):
        samples(ann_file='bad.json')
