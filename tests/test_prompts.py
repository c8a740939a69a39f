"""Prompt cache: round trip, errors, and the extraction tool."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from conftest import REPO, write_prompt_cache
from ldr_mm.prompts import (PromptCacheError, build_prompt,
                            default_prompt_names, load_prompt_cache,
                            save_prompt_cache)


def test_prompt_building():
    names = default_prompt_names(['Pleural_Thickening', 'Mass'])
    assert names == ['Pleural Thickening', 'Mass']
    assert build_prompt(names) == \
        'The Categories of the image are Pleural Thickening, Mass.'
    with pytest.raises(ValueError, match='must contain'):
        build_prompt(names, 'no placeholder')


def test_round_trip(tmp_path):
    path = str(tmp_path / 'c.pth')
    saved = write_prompt_cache(path, ['a', 'b'], num_tokens=6, dims=10)
    loaded = load_prompt_cache(path, classes=['a', 'b'], num_classes=2)
    for k, v in saved.items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, loaded[k])
        else:
            assert v == loaded[k]
    assert loaded['embeddings'].shape == (6, 10)


def test_saved_file_loads_weights_only(tmp_path):
    path = str(tmp_path / 'c.pth')
    write_prompt_cache(path, ['a'])
    torch.load(path, weights_only=True)  # no custom globals needed


def test_missing_file_prints_command(tmp_path):
    with pytest.raises(PromptCacheError) as e:
        load_prompt_cache(str(tmp_path / 'x.pth'), classes=['a', 'b'])
    msg = str(e.value)
    assert 'does not exist' in msg
    assert 'tools/misc/extract_prompt_embeddings.py --classes a b --out' \
        in msg


def test_other_classes_refused(tmp_path):
    path = str(tmp_path / 'c.pth')
    write_prompt_cache(path, ['a', 'b'])
    with pytest.raises(PromptCacheError, match=r"made for the classes \['a', "
                       r"'b'\].*\['b', 'a'\]"):
        load_prompt_cache(path, classes=['b', 'a'])
    with pytest.raises(PromptCacheError, match='num_classes=3'):
        load_prompt_cache(path, num_classes=3)


@pytest.mark.parametrize('content, match', [
    (b'not a torch file', 'could not be read'),
    ({'embeddings': torch.zeros(2, 2)}, 'missing keys'),
])
def test_corrupt_files(tmp_path, content, match):
    path = str(tmp_path / 'c.pth')
    if isinstance(content, bytes):
        open(path, 'wb').write(content)
    else:
        torch.save(content, path)
    with pytest.raises(PromptCacheError, match=match):
        load_prompt_cache(path)


def test_truncated_file(tmp_path):
    path = str(tmp_path / 'c.pth')
    write_prompt_cache(path, ['a', 'b'])
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    with pytest.raises(PromptCacheError, match='could not be read'):
        load_prompt_cache(path)


def test_nan_embeddings_refused(tmp_path):
    path = str(tmp_path / 'c.pth')
    with pytest.raises(ValueError):
        save_prompt_cache(path, classes=['a'], prompt_names=['a', 'b'],
                          template='{}', prompt='a', model='m',
                          pretrained=None, embedding_type='token',
                          tokens=torch.arange(2),
                          embeddings=torch.zeros(2, 4))
    data = write_prompt_cache(path, ['a'])
    data['embeddings'][0, 0] = float('nan')
    torch.save(data, path)
    with pytest.raises(PromptCacheError, match='NaN'):
        load_prompt_cache(path)


@pytest.mark.slow
def test_extract_tool_with_random_clip(tmp_path):
    """The real open_clip path with random weights (no hub access)."""
    import open_clip
    from ldr_mm.prompts import extract_clip_word_embeddings

    out = str(tmp_path / 'cache.pth')
    cmd = [sys.executable, osp.join(REPO, 'tools/misc/'
                                    'extract_prompt_embeddings.py'),
           '--classes', 'Pleural_Thickening', 'Mass', '--out', out,
           '--weights', 'none']
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={'HF_HUB_OFFLINE': '1', 'PATH': ''})
    assert res.returncode == 0, res.stderr
    cache = load_prompt_cache(out, classes=['Pleural_Thickening', 'Mass'])
    prompt = 'The Categories of the image are Pleural Thickening, Mass.'
    assert cache['prompt'] == prompt
    assert cache['pretrained'] is None
    tok = open_clip.get_tokenizer('ViT-B-32')([prompt])[0]
    n = int((tok != 0).sum())
    assert torch.equal(cache['tokens'], tok[:n])  # start ... end token
    assert cache['embeddings'].shape == (n, 512)

    # token embeddings are the rows of CLIP's token table
    torch.manual_seed(0)
    tokens, emb = extract_clip_word_embeddings(prompt, embedding_type='token')
    torch.manual_seed(0)
    model = open_clip.create_model('ViT-B-32', pretrained=None)
    torch.testing.assert_close(emb, model.token_embedding.weight[tokens])
    # text embeddings are contextual: same length, different values
    torch.manual_seed(0)
    _, text = extract_clip_word_embeddings(prompt, embedding_type='text')
    assert text.shape == emb.shape and not torch.allclose(text, emb)


def test_extract_tool_missing_weights_file_in_process(tmp_path, capsys):
    """The tool's main (what the command line runs): exit status 2, the
    missing file named on stderr, no cache written. The same as a command:
    ``test_extract_tool_missing_weights_file`` (slow)."""
    from inference_helpers import load_tool
    tool = load_tool('misc/extract_prompt_embeddings.py')
    with pytest.raises(SystemExit) as info:
        tool.main(['--classes', 'a', '--out', str(tmp_path / 'c.pth'),
                   '--weights', str(tmp_path / 'missing.bin')])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert 'missing.bin' in err and 'does not exist' in err
    assert not osp.exists(tmp_path / 'c.pth')


@pytest.mark.slow
def test_extract_tool_missing_weights_file(tmp_path):
    cmd = [sys.executable, osp.join(REPO, 'tools/misc/'
                                    'extract_prompt_embeddings.py'),
           '--classes', 'a', '--out', str(tmp_path / 'c.pth'), '--weights',
           str(tmp_path / 'missing.bin')]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={'HF_HUB_OFFLINE': '1', 'PATH': ''})
    assert res.returncode != 0
    assert 'missing.bin' in res.stderr and 'does not exist' in res.stderr
    assert not osp.exists(tmp_path / 'c.pth')
