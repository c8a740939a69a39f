"""ODIR-5K converter on the real workbook in ../shared/data (in place)."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from ldr_mm.datasets import ODIR_CLASSES
from medical_helpers import REPO, make_odir, odir_rows, shared_file, \
    write_odir_xlsx

XLSX = 'ODIR-5K_Training_Annotations(Updated)_V2.xlsx'


def load_tool():
    path = osp.join(REPO, 'tools', 'dataset_converters', 'odir5k.py')
    spec = importlib.util.spec_from_file_location('odir_converter', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def xlsx_column_sums(path):
    """Per-class patient counts straight from the workbook columns."""
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    header = list(rows[0])
    cols = [header.index(c) for c in ODIR_CLASSES]
    body = [r for r in rows[1:] if r[0] is not None]
    return len(body), np.array([[r[c] for c in cols] for r in body]).sum(0)


@pytest.mark.parametrize('mode', ['eye', 'patient'])
def test_real_workbook(tmp_path, capsys, mode):
    path = shared_file('odir5k', XLSX)
    out_dir = str(tmp_path / 'ann')
    res = load_tool().main([osp.dirname(path), '--out-dir', out_dir,
                            '--img-dir', 'ODIR-5K_Training_Dataset',
                            '--mode', mode])
    printed = capsys.readouterr().out
    n_patients, column_sums = xlsx_column_sums(path)
    assert n_patients == 3500
    assert sum(res.patients.values()) == 3500
    total = sum(res.patient_positives.values())
    np.testing.assert_array_equal(total, column_sums)
    assert dict(zip(ODIR_CLASSES, total.tolist())) == dict(
        N=1140, D=1128, G=215, C=212, A=164, H=103, M=174, O=979)
    for s, target in (('train', 0.7), ('val', 0.1), ('test', 0.2)):
        assert abs(res.patients[s] / 3500 - target) < 0.01
        assert abs(res.images[s] / sum(res.images.values()) - target) < 0.01
    files = {}
    for s in ('train', 'val', 'test'):
        with open(osp.join(out_dir, f'{s}.json')) as f:
            files[s] = json.load(f)
    pids = {s: {d['patient_id'] for d in files[s]['data_list']}
            for s in files}
    assert not pids['train'] & pids['val'] and not pids['val'] & pids['test']
    assert not pids['train'] & pids['test']
    # seed 0 is documented in docs/datasets.md: the split must not drift
    assert res.patients == dict(train=2450, val=350, test=700)
    if mode == 'eye':
        assert sum(res.images.values()) == 6997
        assert res.images == dict(train=4897, val=700, test=1400)
        d = files['train']['data_list'][0]
        assert d['img_path'].startswith('ODIR-5K_Training_Dataset/')
        assert d['eye'] in ('left', 'right')
        assert '3 eye images left out' in printed
    else:
        assert sum(res.images.values()) == 3500
        assert len(files['test']['data_list'][0]['img_path']) == 2
    assert 'head classes: N, D, O' in printed
    assert 'tail classes: G, C, A, H, M' in printed
    assert 'positive patients per class' in printed


def test_converter_output_trains_the_same_as_raw(tmp_path):
    root = str(tmp_path)
    make_odir(root, n_patients=20)
    load_tool().main([root])
    from ldr_mm.datasets import ODIR5K
    from mmpretrain.datasets import MultiLabelDataset
    for s in ('train', 'val', 'test'):
        raw = ODIR5K(data_root=root, split=s)
        conv = MultiLabelDataset(data_root=root,
                                 ann_file=f'annotations/{s}.json')
        assert len(raw) == len(conv)
        for i in range(len(raw)):
            a, b = raw.get_data_info(i), conv.get_data_info(i)
            assert osp.normpath(a['img_path']) == osp.normpath(b['img_path'])
            assert a['patient_id'] == b['patient_id']
            assert a['gt_label'] == list(b['gt_label'])


def test_refuses_duplicate_patient_naming_rows(tmp_path):
    rows = odir_rows(5)
    rows[4] = (rows[1][0], ) + rows[4][1:]
    write_odir_xlsx(str(tmp_path / XLSX), rows)
    with pytest.raises(SystemExit, match='row 6: patient ID 4 already on '
                       'row 3'):
        load_tool().main([str(tmp_path), '--img-dir', 'x'])
    write_odir_xlsx(str(tmp_path / XLSX), odir_rows(5))
    with pytest.raises(SystemExit, match='10 images .*not under'):
        load_tool().main([str(tmp_path)])  # images not unpacked
