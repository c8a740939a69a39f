"""Atomic file writing."""
import os
import stat

import pytest

from ldr_mm.utils import atomic_call, atomic_torch_save, atomic_write


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / 'a.txt'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_write(str(path)) as f:
            f.write('half of the new content')
            raise RuntimeError('crash')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['a.txt']  # no temp file left
    with atomic_write(str(path)) as f:
        f.write('new')
    assert path.read_text() == 'new'


def test_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(str(tmp_path / 'a.txt')) as f:
            f.write('x')
        atomic_torch_save({'x': 1}, str(tmp_path / 'b.pth'))
        atomic_call(str(tmp_path / 'c.txt'),
                    lambda p: open(p, 'w').write('x'))
    finally:
        os.umask(old)
    for name in ('a.txt', 'b.pth', 'c.txt'):
        assert _mode(tmp_path / name) == 0o644, name


def test_atomic_call_keeps_the_extension(tmp_path):
    seen = []
    atomic_call(str(tmp_path / 'plot.png'),
                lambda p: (seen.append(p), open(p, 'wb').write(b'x')))
    assert seen[0].endswith('.png') and seen[0] != str(tmp_path / 'plot.png')
    assert (tmp_path / 'plot.png').read_bytes() == b'x'


def test_mmengine_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    """The 'atomic_local' backend that the runtime's checkpoint hook opts
    into goes through it."""
    from mmengine.fileio import get_file_backend
    import ldr_mm.utils.fileio as fileio
    backend = get_file_backend(str(tmp_path / 'x.pth'),
                               backend_args=dict(backend='atomic_local'))
    backend.put(b'complete', str(tmp_path / 'x.pth'))

    def crash(*args):
        raise OSError('disk full')
    monkeypatch.setattr(fileio.os, 'replace', crash)
    with pytest.raises(OSError):
        backend.put(b'trunc', str(tmp_path / 'x.pth'))
    assert (tmp_path / 'x.pth').read_bytes() == b'complete'


def test_the_umask_is_read_without_changing_it(tmp_path, monkeypatch):
    """Setting the umask to read it would give files that other threads
    create meanwhile a umask of 0 (world-writable)."""
    calls = []
    monkeypatch.setattr(os, 'umask', lambda *a: calls.append(a) or 0)
    with atomic_write(str(tmp_path / 'a.txt')) as f:
        f.write('x')
    atomic_call(str(tmp_path / 'b.txt'), lambda p: open(p, 'w').write('x'))
    assert calls == [], 'os.umask was called after import'
    monkeypatch.undo()
    mask = os.umask(0o022)
    os.umask(mask)
    for name in ('a.txt', 'b.txt'):
        assert _mode(tmp_path / name) == 0o666 & ~mask, name




def test_no_world_writable_file_from_a_concurrent_thread(tmp_path):
    """Stress: one thread computes the mode of atomic writes while this one
    creates 3000 plain files; with the umask set to 0 for a moment (the old
    way) hundreds of them came out world-writable."""
    import sys
    import threading

    import ldr_mm.utils.fileio as fileio
    old_mask, old_switch = os.umask(0o022), sys.getswitchinterval()
    stop = threading.Event()

    def modes():
        while not stop.is_set():
            assert fileio._umask_mode() == 0o644
    t = threading.Thread(target=modes)
    sys.setswitchinterval(1e-6)
    try:
        t.start()
        for i in range(3000):
            open(tmp_path / str(i), 'w').close()
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old_switch)
        os.umask(old_mask)
    loose = [p.name for p in tmp_path.iterdir() if _mode(p) & stat.S_IWOTH]
    assert loose == [], f'{len(loose)} of 3000 files world-writable'



def test_without_proc_the_umask_at_import_is_used(tmp_path, monkeypatch):
    import ldr_mm.utils.fileio as fileio
    monkeypatch.setattr(fileio, '_proc_umask', lambda: None)
    monkeypatch.setattr(fileio, '_IMPORT_UMASK', 0o027)
    monkeypatch.setattr(os, 'umask', lambda *a: pytest.fail('os.umask'))
    with atomic_write(str(tmp_path / 'a.txt')) as f:
        f.write('x')
    assert _mode(tmp_path / 'a.txt') == 0o640

@pytest.mark.parametrize('name, safe', [
    ('../../x', '___.._x'), ('a/b', 'a_b'), ('a\\b', 'a_b'), ('..', '__'),
    ('.hidden', '_hidden'), ('', 'unnamed'), ('a\x00b:c*', 'a_b_c_'),
    ('Pleural Effusion', 'Pleural Effusion'), ('Atelectasis', 'Atelectasis'),
    ('é' * 200, 'é' * 75)])
def test_safe_file_name(tmp_path, name, safe):
    """Issue 23.6: one file-name component, never a path out of a folder."""
    from ldr_mm.utils import safe_file_name
    assert safe_file_name(name) == safe
    with open(tmp_path / f'{safe_file_name(name)}.png', 'w'):
        pass
    assert len(os.listdir(tmp_path)) == 1
