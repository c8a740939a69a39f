"""AxSpA converter: checked input, patient-level split, report."""
import importlib.util
import json
import os.path as osp

import numpy as np
import pytest

import ldr_mm  # noqa: F401
from medical_helpers import REPO, axspa_rows, make_axspa, write_axspa_csv


def load_tool():
    path = osp.join(REPO, 'tools', 'dataset_converters', 'axspa.py')
    spec = importlib.util.spec_from_file_location('axspa_converter', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_split_by_patient_and_slice_count(tmp_path, capsys):
    root = str(tmp_path)
    # 50 patients with 16..24 slices, as the paper's data; tiny images
    rows = []
    rng = np.random.default_rng(0)
    for p in range(50):
        rows += [dict(r, patient_id=f'Q{p:03d}',
                      img_path=f'Q{p:03d}/s{i:02d}.png', slice_index=str(i))
                 for i, r in enumerate(axspa_rows(1, int(rng.integers(
                     16, 25)), seed=p))]
    write_axspa_csv(osp.join(root, 'annotations.csv'), rows)
    res = load_tool().main([root, '--no-check-files'])
    printed = capsys.readouterr().out
    n = sum(res.images.values())
    assert n == len(rows)
    for s, target in (('train', 0.7), ('val', 0.1), ('test', 0.2)):
        assert abs(res.images[s] / n - target) < 0.01, res.images
    files = {}
    for s in ('train', 'val', 'test'):
        with open(osp.join(root, 'annotations', f'{s}.json')) as f:
            files[s] = json.load(f)
    pids = {s: {d['patient_id'] for d in files[s]['data_list']}
            for s in files}
    assert sum(len(v) for v in pids.values()) == 50
    assert not pids['train'] & pids['val'] and not pids['val'] & pids['test']
    assert not pids['train'] & pids['test']
    assert 'head classes: BMER, BMEL, JSR, JSL' in printed
    assert 'positive slices per class' in printed
    assert files['val']['metainfo']['split_method'] == 'patient'


def test_refuses_missing_images_and_bad_rows(tmp_path):
    root = str(tmp_path)
    rows = make_axspa(root, n_patients=4, slices=2)
    res = load_tool().main([root])
    assert sum(res.images.values()) == 8
    import os
    os.remove(osp.join(root, rows[3]['img_path']))
    with pytest.raises(SystemExit, match='1 slice images do not exist.*'
                       'line 5'):
        load_tool().main([root])
    rows[5]['ER'] = 'x'
    write_axspa_csv(osp.join(root, 'annotations.csv'), rows)
    with pytest.raises(SystemExit, match='line 7: label ER'):
        load_tool().main([root, '--no-check-files'])
