"""Prompt encoders (ldr_mm.prompts.encoders): open_clip model folders,
transformers model folders and word2vec files, on tiny randomly initialised
models written by the tests, through the same code as real weights."""
import json
import os.path as osp
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO, write_prompt_cache
from ldr_mm.models import LDRNeck
from ldr_mm.prompts import (PROMPT_ENCODERS, Word2VecError, encode_prompt,
                            load_prompt_cache, read_word2vec)

TOOL = osp.join(REPO, 'tools', 'misc', 'extract_prompt_embeddings.py')
TEMPLATE = 'The Categories of the image are {}.'
NAMES = ['Pleural Thickening', 'Mass']
PROMPT = 'The Categories of the image are Pleural Thickening, Mass.'
BERT_VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the',
              'categories', 'of', 'image', 'are', 'pleural', 'thick',
              '##ening', 'mass', ',', '.']
# word -> vector (D = 4); 'Pleural_Thickening' is deliberately absent, so
# the class name is the average of 'pleural' and 'Thickening'.
W2V = {
    'The': [1, 0, 0, 0], 'Categories': [0, 1, 0, 0], 'of': [0, 0, 1, 0],
    'the': [0, 0, 0, 1], 'image': [1, 1, 0, 0], 'are': [0, 1, 1, 0],
    'pleural': [2, 0, 0, 2], 'Thickening': [0, 4, 4, 0], 'mass': [3, 3, 3, 3],
    'New_York': [9, 9, 9, 9],
}


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *args], capture_output=True,
                          text=True, timeout=600,
                          env={'HF_HUB_OFFLINE': '1', 'PATH': '',
                               'OMP_NUM_THREADS': '1'})


def write_w2v(path, vectors, binary):
    dims = len(next(iter(vectors.values())))
    with open(path, 'wb') as f:
        f.write(f'{len(vectors)} {dims}\n'.encode())
        for word, vec in vectors.items():
            if binary:
                f.write(word.encode() + b' ' +
                        struct.pack(f'<{dims}f', *vec) + b'\n')
            else:
                f.write((word + ' ' + ' '.join(f'{v:.6f}' for v in vec) +
                         '\n').encode())
    return str(path)


@pytest.fixture(scope='module')
def bert_dir(tmp_path_factory):
    """A 2-layer, 32-wide random BERT with a WordPiece vocab (save_pretrained
    layout, as BlueBERT / BiomedBERT folders)."""
    transformers = pytest.importorskip('transformers')
    d = tmp_path_factory.mktemp('tiny_bert')
    vocab = d / 'vocab.txt'
    vocab.write_text('\n'.join(BERT_VOCAB) + '\n')
    transformers.BertTokenizer(str(vocab)).save_pretrained(str(d))
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=len(BERT_VOCAB), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=64)
    transformers.BertModel(cfg).save_pretrained(str(d))
    return str(d)


@pytest.mark.parametrize('binary', [False, True])
def test_word2vec_rows_follow_the_prompt(tmp_path, binary):
    path = write_w2v(tmp_path / 'v.w2v', W2V, binary)
    res = encode_prompt(NAMES, TEMPLATE, encoder='word2vec', weights=path)
    want = [W2V[w] for w in ('The', 'Categories', 'of', 'the', 'image',
                             'are')]
    want += [np.mean([W2V['pleural'], W2V['Thickening']], 0), W2V['mass']]
    torch.testing.assert_close(res.embeddings,
                               torch.tensor(np.array(want), dtype=torch.float))
    # rows of the file; -1 for the averaged two-word class name
    assert res.tokens.tolist() == [0, 1, 2, 3, 4, 5, -1, 8]
    assert res.model == 'v.w2v' and res.pretrained == path


def test_word2vec_text_and_binary_agree_and_phrases_win(tmp_path):
    vecs = dict(W2V, Pleural_Thickening=[7, 7, 7, 7])
    a = encode_prompt(NAMES, TEMPLATE, encoder='word2vec',
                      weights=write_w2v(tmp_path / 'a.txt', vecs, False))
    b = encode_prompt(NAMES, TEMPLATE, encoder='word2vec',
                      weights=write_w2v(tmp_path / 'b.bin', vecs, True))
    assert torch.equal(a.embeddings, b.embeddings)
    assert torch.equal(a.tokens, b.tokens)
    assert a.embeddings[6].tolist() == [7, 7, 7, 7]  # the phrase vector
    found, dims = read_word2vec(str(tmp_path / 'b.bin'), ['New_York', 'x'])
    assert dims == 4 and list(found) == ['New_York']
    assert found['New_York'][0] == 9  # its row in the file


def test_word2vec_unknown_words(tmp_path):
    vecs = {k: v for k, v in W2V.items() if k != 'mass'}
    path = write_w2v(tmp_path / 'v.bin', vecs, True)
    with pytest.raises(Word2VecError, match=r"'Mass'.*v\.bin"):
        encode_prompt(NAMES, TEMPLATE, encoder='word2vec', weights=path)
    vecs = {k: v for k, v in W2V.items() if k != 'of'}
    path = write_w2v(tmp_path / 'w.txt', vecs, False)
    with pytest.raises(Word2VecError, match=r"template word 'of'.*w\.txt.*"
                       r"--skip-unknown-template-words"):
        encode_prompt(NAMES, TEMPLATE, encoder='word2vec', weights=path)
    res = encode_prompt(NAMES, TEMPLATE, encoder='word2vec', weights=path,
                        skip_unknown_template_words=True)
    assert res.embeddings.shape == (7, 4)
    assert 'of' in res.notes[0]
    with pytest.raises(ValueError, match='no context'):
        encode_prompt(NAMES, TEMPLATE, encoder='word2vec', weights=path,
                      embedding_type='text')


def test_word2vec_malformed_files(tmp_path):
    bad = tmp_path / 'bad.txt'
    bad.write_text('hello world\n')
    with pytest.raises(Word2VecError, match='bad.txt.*first line'):
        read_word2vec(str(bad), ['x'])
    short = tmp_path / 'short.txt'
    short.write_text('3 2\nmass 1 2\nthe 1\n')
    with pytest.raises(Word2VecError, match=r'line 3.*1 values.*says 2'):
        read_word2vec(str(short), ['the'])
    with pytest.raises(Word2VecError, match='header promises 3'):
        read_word2vec(str(short), ['x'])
    path = write_w2v(tmp_path / 'v.bin', W2V, True)
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) - 20])
    with pytest.raises(Word2VecError, match='truncated'):
        read_word2vec(path, ['New_York'])
    with pytest.raises(FileNotFoundError, match='nope.bin'):
        read_word2vec(str(tmp_path / 'nope.bin'), ['x'])


def test_transformers_token_and_text(bert_dir):
    import transformers
    res = encode_prompt(NAMES, TEMPLATE, encoder='transformers',
                        weights=bert_dir)
    tok = transformers.AutoTokenizer.from_pretrained(bert_dir)
    ids = tok(PROMPT)['input_ids']
    assert res.tokens.tolist() == ids
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert BERT_VOCAB.index('##ening') in ids  # word pieces kept
    model = transformers.AutoModel.from_pretrained(bert_dir).eval()
    table = model.get_input_embeddings().weight
    torch.testing.assert_close(res.embeddings, table[res.tokens].detach())
    text = encode_prompt(NAMES, TEMPLATE, encoder='transformers',
                         weights=bert_dir, embedding_type='text')
    with torch.no_grad():
        hidden = model(input_ids=res.tokens[None]).last_hidden_state[0]
    torch.testing.assert_close(text.embeddings, hidden)
    assert res.model == osp.basename(bert_dir)


def test_transformers_errors(tmp_path, bert_dir, monkeypatch):
    with pytest.raises(FileNotFoundError, match='nowhere.*does not exist'):
        encode_prompt(NAMES, TEMPLATE, encoder='transformers',
                      weights=str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='no config.json'):
        encode_prompt(NAMES, TEMPLATE, encoder='transformers',
                      weights=str(tmp_path))
    with pytest.raises(ValueError, match='--weights with a local'):
        encode_prompt(NAMES, TEMPLATE, encoder='transformers', weights=None)
    with pytest.raises(ValueError, match='more than the 64 positions'):
        encode_prompt(['mass'] * 40, TEMPLATE, encoder='transformers',
                      weights=bert_dir, embedding_type='text')
    monkeypatch.setitem(sys.modules, 'transformers', None)
    with pytest.raises(ImportError, match='pip install transformers=='):
        encode_prompt(NAMES, TEMPLATE, encoder='transformers',
                      weights=bert_dir)
    with pytest.raises(ValueError, match="choose one of.*'word2vec'"):
        encode_prompt(NAMES, TEMPLATE, encoder='glove')


def _clip_dir(root, text_cfg):
    """An open_clip model folder (hub layout) with random tiny weights."""
    import open_clip
    cfg = dict(model_cfg=dict(
        embed_dim=16,
        vision_cfg=dict(image_size=32, layers=1, width=32, patch_size=16,
                        head_width=16),
        text_cfg=text_cfg))
    (root / 'open_clip_config.json').write_text(json.dumps(cfg))
    torch.manual_seed(0)
    override = dict(text_cfg, hf_model_name=str(root),
                    hf_model_pretrained=False) \
        if 'hf_model_name' in text_cfg else text_cfg
    model = open_clip.create_model('local-dir:' + str(root),
                                   text_cfg=override, pretrained_text=False)
    torch.save(model.state_dict(), root / 'open_clip_pytorch_model.bin')
    return model.eval()


def test_open_clip_model_folder(tmp_path):
    model = _clip_dir(tmp_path, dict(context_length=77, vocab_size=49408,
                                     width=32, heads=2, layers=1))
    res = encode_prompt(NAMES, TEMPLATE, weights=str(tmp_path))
    torch.testing.assert_close(
        res.embeddings, model.token_embedding.weight[res.tokens].detach())
    assert res.model == osp.basename(str(tmp_path))
    assert res.pretrained == str(tmp_path)
    hub = encode_prompt(NAMES, TEMPLATE, weights=str(tmp_path),
                        model='hf-hub:org/tiny-clip')  # offline: the folder
    assert hub.model == 'hf-hub:org/tiny-clip'
    assert torch.equal(hub.embeddings, res.embeddings)
    (tmp_path / 'open_clip_pytorch_model.bin').unlink()
    with pytest.raises(FileNotFoundError, match='holds no weights'):
        encode_prompt(NAMES, TEMPLATE, weights=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no open_clip_config.json'):
        encode_prompt(NAMES, TEMPLATE, weights=str(tmp_path / '..'))


def test_biomedclip_style_folder(tmp_path, bert_dir):
    """A BiomedCLIP-layout folder: hub names in open_clip_config.json, an HF
    BERT text tower, tokenizer and BERT config.json in the folder."""
    import shutil
    for name in ('vocab.txt', 'tokenizer.json', 'tokenizer_config.json',
                 'config.json'):
        shutil.copy(osp.join(bert_dir, name), tmp_path / name)
    hub = 'microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract'
    model = _clip_dir(tmp_path, dict(
        hf_model_name=hub, hf_tokenizer_name=hub, hf_proj_type='mlp',
        hf_pooler_type='cls_last_hidden_state_pooler', context_length=64))
    res = encode_prompt(NAMES, TEMPLATE, weights=str(tmp_path))
    bert = model.text.transformer
    assert res.tokens[0] == BERT_VOCAB.index('[CLS]')
    torch.testing.assert_close(
        res.embeddings,
        bert.get_input_embeddings().weight[res.tokens].detach())
    text = encode_prompt(NAMES, TEMPLATE, weights=str(tmp_path),
                         embedding_type='text')
    with torch.no_grad():
        hidden = bert(input_ids=res.tokens[None]).last_hidden_state[0]
    torch.testing.assert_close(text.embeddings, hidden)


@pytest.mark.parametrize('dims', [3, 300, 768])
def test_neck_maps_any_width(tmp_path, dims):
    """The neck's word MLP maps any encoder width D' to D."""
    path = str(tmp_path / 'p.pth')
    write_prompt_cache(path, ['a', 'b'], num_tokens=6, dims=dims)
    neck = LDRNeck(in_channels=16, num_classes=2, prompt_cache=path,
                   num_heads=4).eval()
    assert neck.word_mlp[0].in_features == dims
    assert neck((torch.randn(2, 16, 3, 3), ))[0].shape == (2, 2, 16)


def test_legacy_cache_without_encoder_key(tmp_path):
    path = str(tmp_path / 'old.pth')
    data = write_prompt_cache(path, ['a', 'b'])
    assert data['encoder'] == 'open_clip'
    del data['encoder']
    torch.save(data, path)  # as written before the key existed
    assert load_prompt_cache(path)['encoder'] == 'open_clip'


def load_extract_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('extract_tool', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tool_word2vec_cache_trains_the_neck(tmp_path, capsys):
    """The tool's main: arguments -> cache (encoder recorded) -> neck."""
    vec = write_w2v(tmp_path / 'v.bin', W2V, True)
    out = str(tmp_path / 'c.pth')
    tool = load_extract_tool()
    tool.main(['--classes', 'Pleural_Thickening', 'Mass', '--out', out,
               '--encoder', 'word2vec', '--weights', vec])
    assert '8 tokens x 4 dims' in capsys.readouterr().out
    cache = load_prompt_cache(out, classes=['Pleural_Thickening', 'Mass'])
    assert cache['encoder'] == 'word2vec' and cache['model'] == 'v.bin'
    assert cache['embeddings'].shape == (8, 4)
    neck = LDRNeck(in_channels=8, num_classes=2, prompt_cache=out,
                   num_heads=2)
    out = neck((torch.randn(1, 8, 2, 2), ))[0]  # LayerNorm'd: weight it
    (out * torch.randn_like(out)).sum().backward()
    assert neck.word_mlp[0].weight.grad.abs().sum() > 0
    with pytest.raises(SystemExit) as e:
        tool.main(['--classes', 'Effusion', '--out', str(tmp_path / 'x.pth'),
                   '--encoder', 'word2vec', '--weights', vec])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "'Effusion'" in err and 'v.bin' in err
    assert not osp.exists(tmp_path / 'x.pth')


@pytest.mark.slow
def test_tool_word2vec_subprocess_error(tmp_path):
    vec = write_w2v(tmp_path / 'v.txt', W2V, False)
    res = run_tool('--classes', 'Effusion', '--out', str(tmp_path / 'x.pth'),
                   '--encoder', 'word2vec', '--weights', vec)
    assert res.returncode == 2
    assert "'Effusion'" in res.stderr and 'v.txt' in res.stderr
    assert 'Traceback' not in res.stderr
    assert not osp.exists(tmp_path / 'x.pth')


@pytest.mark.slow
def test_tool_transformers_cache(tmp_path, bert_dir):
    out = str(tmp_path / 'c.pth')
    res = run_tool('--classes', 'Pleural_Thickening', 'Mass', '--out', out,
                   '--encoder', 'transformers', '--weights', bert_dir,
                   '--embedding', 'text')
    assert res.returncode == 0, res.stderr
    cache = load_prompt_cache(out)
    assert cache['encoder'] == 'transformers'
    assert cache['embedding_type'] == 'text'
    assert cache['pretrained'] == bert_dir
    assert cache['embeddings'].shape == (14, 32)


def test_registry_lists_the_table5_encoders():
    assert {'open_clip', 'transformers', 'word2vec'} <= set(PROMPT_ENCODERS)


@pytest.mark.slow
def test_word2vec_cache_trains_through_the_runner(demo_root, tmp_path):
    """Tool -> word2vec cache for the demo classes -> tools/train.py."""
    from conftest import write_tiny_config
    from inference_helpers import load_tool
    from ldr_mm.datasets.demo import DEMO_CLASSES
    words = {w: list(np.random.RandomState(i).randn(6))
             for i, w in enumerate(['The', 'Categories', 'of', 'the',
                                    'image', 'are', *DEMO_CLASSES])}
    vec = write_w2v(tmp_path / 'demo.bin', words, True)
    cache = str(tmp_path / 'demo_w2v.pth')
    load_extract_tool().main(['--classes', *DEMO_CLASSES, '--out', cache,
                      '--encoder', 'word2vec', '--weights', vec])
    cfg = write_tiny_config(tmp_path / 'cfg.py', demo_root,
                            str(tmp_path / 'work'))
    load_tool('train.py').main(
        [cfg, '--cfg-options', f'model.neck.prompt_cache={cache}'])
    ckpt = torch.load(str(tmp_path / 'work' / 'iter_2.pth'),
                      map_location='cpu', weights_only=True)
    torch.testing.assert_close(ckpt['state_dict']['neck.word_embeddings'],
                               load_prompt_cache(cache)['embeddings'])


def test_tool_config_with_cfg_options(tmp_path, capsys):
    """CONFIG --cfg-options: the override reaches the config (here the
    cache path it writes to); the tool failed with a TypeError building its
    DictAction by hand."""
    from ldr_mm.datasets.demo import DEMO_CLASSES
    words = {w: list(np.random.RandomState(i).randn(4))
             for i, w in enumerate(['The', 'Categories', 'of', 'the',
                                    'image', 'are', *DEMO_CLASSES])}
    vec = write_w2v(tmp_path / 'demo.txt', words, False)
    out = str(tmp_path / 'from_cfg_options.pth')
    load_extract_tool().main([
        osp.join(REPO, 'configs', 'ldrnet', 'ldr_r18_demo_stage1.py'),
        '--encoder', 'word2vec', '--weights', vec, '--cfg-options',
        f'model.neck.prompt_cache={out}'])
    assert f'Wrote {out}' in capsys.readouterr().out
    cache = load_prompt_cache(out, classes=list(DEMO_CLASSES))
    assert cache['encoder'] == 'word2vec'
