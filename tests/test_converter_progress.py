"""Progress bars of the dataset converters (MMEngine's, on stdout)."""
import json
import os
import os.path as osp

from medical_helpers import make_axspa
from test_converters_axspa import load_tool

from ldr_mm.datasets.base import ImageIndex
from ldr_mm.datasets.converters import convert_axspa


def test_axspa_tool_shows_the_file_check(tmp_path, capsys):
    root = str(tmp_path)
    make_axspa(root, n_patients=4, slices=2)
    res = load_tool().main([root])
    out = capsys.readouterr().out
    assert '8/8' in out and 'task/s' in out  # one tick per checked slice
    assert sum(res.images.values()) == 8
    quiet_dir = str(tmp_path / 'quiet')
    convert_axspa(root, quiet_dir)  # the library default: no bar
    assert 'task/s' not in capsys.readouterr().out
    for s in ('train', 'val', 'test'):
        with open(osp.join(root, 'annotations', f'{s}.json')) as a, \
                open(osp.join(quiet_dir, f'{s}.json')) as b:
            assert json.load(a) == json.load(b)


def test_image_index_bar_keeps_the_index(tmp_path, capsys):
    for d, names in (('images_001/images', ['a.png', 'b.png']),
                     ('images_002/images', ['b.png', 'c.png'])):
        os.makedirs(tmp_path / d)
        for n in names:
            (tmp_path / d / n).write_bytes(b'')
    plain = ImageIndex(str(tmp_path), ['images_*/images'])
    assert 'task/s' not in capsys.readouterr().out
    shown = ImageIndex(str(tmp_path), ['images_*/images'], progress=True)
    assert '2/2' in capsys.readouterr().out  # one tick per folder
    assert shown.dirs == plain.dirs and len(shown) == len(plain) == 3
    # the first folder of the priority order keeps a repeated name
    assert shown.find('b.png') == plain.find('b.png') == osp.join(
        str(tmp_path), 'images_001/images', 'b.png')
