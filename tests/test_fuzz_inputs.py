"""Fuzzing the annotation readers and the image loader with hypothesis.

Each example is a small file with well-formed rows and, at a known place,
zero or one defect of a known kind. The oracle: without a defect the reader
accepts the file and returns exactly the labels written; with a defect it
raises ``AnnotationError`` naming the defective row. Image files: a valid
image of any mode comes out as 3-channel uint8 of its size; anything else
raises ``ImageLoadError`` naming the file. Any other outcome (another
exception type, a silently wrong label) fails the test. 360 examples in all.
"""
import csv
import json
import os
import os.path as osp
import tempfile

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ldr_mm.datasets.axspa import AXSPA_CLASSES, read_axspa_annotations
from ldr_mm.datasets.base import AnnotationError
from ldr_mm.datasets.nih import NIH_CLASSES, read_nih_metadata
from ldr_mm.datasets.odir import ODIR_CLASSES, read_odir_annotations
from ldr_mm.datasets.transforms.loading import (ImageLoadError,
                                                LoadMedicalImage)

FUZZ = settings(max_examples=90, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------- NIH CSV
NIH_HEADER = ['Image Index', 'Finding Labels', 'Follow-up #', 'Patient ID',
              'Patient Age', 'Patient Gender', 'View Position',
              'OriginalImage[Width', 'Height]', 'OriginalImagePixelSpacing[x',
              'y]']
NIH_DEFECTS = ['none', 'unknown_label', 'empty_labels', 'no_finding_plus',
               'repeated_label', 'extra_field', 'missing_field',
               'duplicate_image', 'empty_patient', 'gender_conflict']


@st.composite
def nih_table(draw):
    n = draw(st.integers(1, 12))
    rows, expected = [], []
    for i in range(n):
        labels = draw(st.sets(st.sampled_from(NIH_CLASSES), max_size=4))
        cell = '|'.join(sorted(labels, key=lambda c: draw(
            st.integers(0, 9)))) if labels else 'No Finding'
        pid = draw(st.integers(1, 4))
        rows.append([f'{i:08d}_000.png', cell, '0', f'{pid:05d}', '50',
                     'M' if pid % 2 else 'F', 'PA', '1024', '1024', '0.14',
                     '0.14'])
        expected.append(sorted(NIH_CLASSES.index(c) for c in labels))
    defect = draw(st.sampled_from(NIH_DEFECTS))
    k = draw(st.integers(0, n - 1))
    row = rows[k]
    if defect == 'unknown_label':
        row[1] = draw(st.sampled_from(['Pneumonia|Cancer', 'Nodules',
                                       'pleural_thickening', 'Mass|?']))
    elif defect == 'empty_labels':
        row[1] = draw(st.sampled_from(['', ' ', '|', 'Mass|']))
    elif defect == 'no_finding_plus':
        row[1] = 'No Finding|Mass'
    elif defect == 'repeated_label':
        row[1] = 'Mass|Mass'
    elif defect == 'extra_field':
        row.append('x')
    elif defect == 'missing_field':
        del row[draw(st.integers(1, len(row) - 1)):]
    elif defect == 'duplicate_image':
        if n == 1:
            defect = 'none'
        else:
            row[0] = rows[(k + 1) % n][0]
    elif defect == 'empty_patient':
        row[3] = ''
    elif defect == 'gender_conflict':
        row[3] = '00002'
        row[5] = 'M'  # patient 2 is 'F' elsewhere; only a conflict if seen
        if not any(r[3] == '00002' for j, r in enumerate(rows) if j != k):
            defect = 'none'  # patient 2 appears once: still valid
    return rows, expected, defect, k


def _defect_rows(rows, defect, k):
    """Lines (1-based, header = 1) where the reader may report the defect."""
    if defect == 'duplicate_image':
        other = [j for j, r in enumerate(rows) if r[0] == rows[k][0]]
        return {max(other) + 2}
    if defect == 'gender_conflict':
        same = [j for j, r in enumerate(rows) if r[3] == '00002']
        return {j + 2 for j in same[1:]}
    return {k + 2}


@FUZZ
@given(nih_table())
def test_nih_reader(table):
    rows, expected, defect, k = table
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'Data_Entry_2017_v2020.csv')
        with open(path, 'w', newline='') as f:
            w = csv.writer(f)
            w.writerow(NIH_HEADER)
            w.writerows(rows)
        if defect == 'none':
            meta = read_nih_metadata(path)
            assert meta.names == [r[0] for r in rows]
            assert [sorted(np.flatnonzero(l)) for l in meta.labels] == \
                expected
            return
        with pytest.raises(AnnotationError) as e:
            read_nih_metadata(path)
        msg = str(e.value)
        assert path in msg
        assert any(f'line {line}' in msg
                   for line in _defect_rows(rows, defect, k)), (defect, msg)


# ------------------------------------------------------------ AxSpA table
AX_DEFECTS = ['none', 'unknown_label', 'bad_value', 'empty_patient',
              'empty_path', 'duplicate_image', 'split_conflict',
              'missing_column']


@st.composite
def axspa_table(draw):
    n = draw(st.integers(1, 10))
    use_list = draw(st.booleans())
    rows, expected = [], []
    for i in range(n):
        pid = f'P{draw(st.integers(1, 3))}'
        labels = sorted(draw(st.sets(st.sampled_from(AXSPA_CLASSES),
                                     max_size=5)), key=AXSPA_CLASSES.index)
        row = dict(patient_id=pid, img_path=f'{pid}/s{i:02d}.png',
                   slice_index=str(i), split='train')
        if use_list:
            row['labels'] = '|'.join(labels)
        else:
            row.update({c: str(int(c in labels)) for c in AXSPA_CLASSES})
        rows.append(row)
        expected.append([AXSPA_CLASSES.index(c) for c in labels])
    defect = draw(st.sampled_from(AX_DEFECTS))
    k = draw(st.integers(0, n - 1))
    row = rows[k]
    if defect == 'unknown_label':
        if use_list:
            row['labels'] = 'SR|XX'
        else:
            row['XX'] = '1'
            for r in rows:
                r.setdefault('XX', '0')
            k = -1  # a header problem: any row may be named, or none
    elif defect == 'bad_value':
        if use_list:
            row['labels'] = 'SR|sr'  # names are case-sensitive: unknown
        else:
            row['SR'] = draw(st.sampled_from(['2', 'yes', '', '0.5']))
    elif defect == 'empty_patient':
        row['patient_id'] = ''
    elif defect == 'empty_path':
        row['img_path'] = ''
    elif defect == 'duplicate_image':
        if n == 1:
            defect = 'none'
        else:
            row['img_path'] = rows[(k + 1) % n]['img_path']
    elif defect == 'split_conflict':
        same = [j for j, r in enumerate(rows)
                if r['patient_id'] == row['patient_id']]
        if len(same) < 2:
            defect = 'none'
        else:
            rows[same[-1]]['split'] = 'test'
            k = same[-1]
    elif defect == 'missing_column':
        for r in rows:
            r.pop('img_path')
        k = -1
    return rows, expected, defect, k


@FUZZ
@given(axspa_table(), st.sampled_from(['csv', 'json']))
def test_axspa_reader(table, fmt):
    rows, expected, defect, k = table
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, f'slices.{fmt}')
        if fmt == 'csv':
            keys = list(dict.fromkeys(key for r in rows for key in r))
            with open(path, 'w', newline='') as f:
                w = csv.DictWriter(f, keys)
                w.writeheader()
                w.writerows(rows)
        else:
            data = []
            for r in rows:
                r = dict(r)
                if 'labels' in r:
                    r['labels'] = [x for x in r['labels'].split('|') if x]
                data.append(r)
            with open(path, 'w') as f:
                json.dump(data, f)
        if defect == 'none':
            ann = read_axspa_annotations(path)
            got = [sorted(np.flatnonzero(l)) for l in ann.labels]
            assert got == expected
            return
        with pytest.raises(AnnotationError) as e:
            read_axspa_annotations(path)
        msg = str(e.value)
        assert path in msg
        if k >= 0:  # row-level defects name the row / record
            where = f'line {k + 2}' if fmt == 'csv' else f'record {k}'
            assert where in msg, (defect, msg)


# --------------------------------------------------------------- ODIR CSV
ODIR_HEADER = ['ID', 'Patient Age', 'Patient Sex', 'Left-Fundus',
               'Right-Fundus', 'Left-Diagnostic Keywords',
               'Right-Diagnostic Keywords'] + list(ODIR_CLASSES)
ODIR_DEFECTS = ['none', 'bad_label', 'no_label', 'normal_plus',
                'duplicate_id', 'duplicate_image', 'empty_image', 'bad_age']


@st.composite
def odir_table(draw):
    n = draw(st.integers(1, 10))
    rows, expected = [], []
    for i in range(n):
        if draw(st.booleans()):
            labels = ['N']
        else:
            labels = sorted(draw(st.sets(st.sampled_from(ODIR_CLASSES[1:]),
                                         min_size=1, max_size=3)),
                            key=ODIR_CLASSES.index)
        kw = draw(st.sampled_from(['normal fundus', 'cataract，lens dust',
                                   'moderate non proliferative retinopathy,'
                                   'laser spot']))
        rows.append([str(i), str(draw(st.integers(1, 90))),
                     draw(st.sampled_from(['Male', 'Female'])),
                     f'{i}_left.jpg', f'{i}_right.jpg', kw, kw] +
                    [str(int(c in labels)) for c in ODIR_CLASSES])
        expected.append([ODIR_CLASSES.index(c) for c in labels])
    defect = draw(st.sampled_from(ODIR_DEFECTS))
    k = draw(st.integers(0, n - 1))
    row = rows[k]
    first_label = len(ODIR_HEADER) - len(ODIR_CLASSES)
    if defect == 'bad_label':
        row[first_label + draw(st.integers(0, 7))] = draw(
            st.sampled_from(['2', 'x', '', '-1']))
    elif defect == 'no_label':
        row[first_label:] = ['0'] * len(ODIR_CLASSES)
    elif defect == 'normal_plus':
        row[first_label] = '1'
        row[first_label + 1] = '1'
    elif defect == 'duplicate_id':
        if n == 1:
            defect = 'none'
        else:
            row[0] = rows[(k + 1) % n][0]
            k = max(k, (k + 1) % n)
    elif defect == 'duplicate_image':
        if n == 1:
            defect = 'none'
        else:
            row[3] = rows[(k + 1) % n][3]
            k = max(k, (k + 1) % n)
    elif defect == 'empty_image':
        row[4] = ''
    elif defect == 'bad_age':
        row[1] = 'old'
    return rows, expected, defect, k


@FUZZ
@given(odir_table())
def test_odir_reader(table):
    rows, expected, defect, k = table
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, 'odir.csv')
        with open(path, 'w', newline='', encoding='utf-8') as f:
            w = csv.writer(f)
            w.writerow(ODIR_HEADER)
            w.writerows(rows)
        if defect == 'none':
            patients = read_odir_annotations(path)
            assert [sorted(np.flatnonzero(p.labels)) for p in patients] == \
                expected
            return
        with pytest.raises(AnnotationError) as e:
            read_odir_annotations(path)
        msg = str(e.value)
        assert path in msg and f'row {k + 2}' in msg, (defect, msg)


# ------------------------------------------------------------ image files
def _png(img):
    ok, buf = cv2.imencode('.png', img)
    assert ok
    return buf.tobytes()


@st.composite
def image_file(draw):
    kind = draw(st.sampled_from(['gray', 'rgb', 'rgba', 'gray16', 'random',
                                 'empty', 'truncated', 'text', 'missing']))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == 'gray':
        return kind, (h, w), _png(rng.integers(0, 256, (h, w), np.uint8))
    if kind == 'rgb':
        return kind, (h, w), _png(rng.integers(0, 256, (h, w, 3), np.uint8))
    if kind == 'rgba':
        return kind, (h, w), _png(rng.integers(0, 256, (h, w, 4), np.uint8))
    if kind == 'gray16':
        return kind, (h, w), _png(rng.integers(0, 4096, (h, w), np.uint16))
    if kind == 'random':
        return kind, None, bytes(rng.integers(0, 256, draw(
            st.integers(1, 300)), np.uint8))
    if kind == 'empty':
        return kind, None, b''
    if kind == 'truncated':
        data = _png(rng.integers(0, 256, (h, w, 3), np.uint8))
        return kind, (h, w), data[:draw(st.integers(1, len(data) - 13))]
    if kind == 'text':
        return kind, None, b'this is not an image\n'
    return kind, None, None


@settings(max_examples=90, deadline=None, derandomize=True)
@given(image_file())
def test_image_loader(case):
    kind, shape, data = case
    loader = LoadMedicalImage()
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, f'img_{kind}.png')
        if data is not None:
            with open(path, 'wb') as f:
                f.write(data)
        if kind in ('gray', 'rgb', 'rgba', 'gray16'):
            out = loader(dict(img_path=path))
            img = out['img']
            assert img.dtype == np.uint8 and img.shape == (*shape, 3)
            return
        try:
            out = loader(dict(img_path=path))
        except ImageLoadError as e:
            assert path in str(e)
            return
        # a truncated PNG that still decodes must decode to the full size
        assert kind == 'truncated', f'{kind} file was accepted'
        assert out['img'].shape == (*shape, 3)
