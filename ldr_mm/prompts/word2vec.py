"""Word vectors of the LDRNet prompt from a word2vec-format file.

The paper's Table 5 compares CLIP with "Word2vector" (Mikolov et al., 2013)
embeddings of the prompt. This module reads the two formats the original
``word2vec`` tool writes, without gensim:

- text: a header line ``"<vocab size> <dims>"``, then one line per word,
  ``"<word> <v1> ... <vD>"`` (space separated);
- binary: the same header line, then per word ``"<word> "`` followed by
  ``D`` little-endian float32 values (and, in most files, a ``"\\n"``).

Only the vectors of the words the prompt needs are kept, so a 3.6 GB
GoogleNews file costs one pass over the file and a few kilobytes of memory.
"""
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch

_WORD = re.compile(r"[^\s,.;:!?()\[\]{}\"]+")
#: token id written for a row that averages several word vectors
AVERAGED_TOKEN = -1


class Word2VecError(ValueError):
    """A word2vec file is malformed or lacks a word the prompt needs."""


def _read_header(f, path: str) -> Tuple[int, int]:
    line = f.readline().decode('utf-8', errors='replace')
    parts = line.split()
    try:
        count, dims = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        raise Word2VecError(
            f'"{path}" is not a word2vec file: its first line must be '
            f'"<vocab size> <dims>", got {line[:80]!r}. (GloVe text files '
            'lack that header: add it as the first line.)') from None
    if count < 1 or dims < 1 or len(parts) != 2:
        raise Word2VecError(f'"{path}": bad word2vec header {line[:80]!r}')
    return count, dims


def _is_binary(f, dims: int) -> bool:
    """Sniff the first record: text records are D + 1 decodable fields."""
    pos = f.tell()
    head = f.read(16 * dims + 256)
    f.seek(pos)
    line = head.split(b'\n', 1)[0]
    try:
        fields = line.decode('utf-8').split()
        [float(v) for v in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        return True
    return len(fields) < 2


def _scan_text(f, path, count, dims, wanted):
    found = {}
    for lineno in range(2, count + 2):
        raw = f.readline()
        if not raw:
            raise Word2VecError(f'"{path}" ends at line {lineno}, but its '
                                f'header promises {count} words')
        word, _, rest = raw.decode('utf-8', errors='replace').strip(
            ).partition(' ')
        if word in wanted:
            values = rest.split()
            if len(values) != dims:
                raise Word2VecError(
                    f'"{path}" line {lineno} ({word!r}) has {len(values)} '
                    f'values, the header says {dims}')
            found[word] = (lineno - 2, np.asarray(values, dtype=np.float32))
    return found


def _scan_binary(f, path, count, dims, wanted):
    found = {}
    nbytes = 4 * dims
    for i in range(count):
        chars = bytearray()
        while True:
            c = f.read(1)
            if not c:
                raise Word2VecError(
                    f'"{path}" is truncated: word {i + 1} of the {count} '
                    'its header promises is missing')
            if c == b' ':
                break
            if c != b'\n' or chars:  # skip the newline ending a record
                chars += c
        word = chars.decode('utf-8', errors='replace')
        if word in wanted:
            buf = f.read(nbytes)
            if len(buf) != nbytes:
                raise Word2VecError(f'"{path}" is truncated in the vector '
                                    f'of {word!r}')
            found[word] = (i, np.frombuffer(buf, dtype='<f4').copy())
        else:
            f.seek(nbytes, 1)
    return found


def read_word2vec(path: str,
                  words: Iterable[str],
                  binary: Optional[bool] = None
                  ) -> Tuple[Dict[str, Tuple[int, np.ndarray]], int]:
    """Read the vectors of ``words`` from a word2vec file.

    Args:
        path (str): A word2vec text or binary file.
        words (Iterable[str]): The words to keep (exact spelling).
        binary (bool, optional): The format; ``None`` (default) detects it
            from the first record.

    Returns:
        tuple: ``{word: (row, float32 array (D,))}`` for the words found
        (``row``: the word's 0-based position in the file), and D.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'word2vec file "{path}" does not exist')
    wanted = set(words)
    with open(path, 'rb') as f:
        count, dims = _read_header(f, path)
        if binary is None:
            binary = _is_binary(f, dims)
        scan = _scan_binary if binary else _scan_text
        return scan(f, path, count, dims, wanted), dims


def _candidates(phrase: str) -> List[str]:
    """Spellings tried for a phrase as one vocabulary entry."""
    joined = '_'.join(phrase.split())
    return list(dict.fromkeys([joined, joined.lower()]))


def prompt_segments(prompt_names: Sequence[str],
                    template: str) -> List[Tuple[str, bool]]:
    """The prompt as ``(text, is_class_name)`` pieces, in order.

    The template's words are single pieces; each class name is one piece
    (one embedding row), however many words it has. Punctuation is dropped.
    """
    if template.count('{}') != 1:
        raise ValueError('The prompt template must contain "{}" once, got '
                         f'{template!r}')
    before, after = template.split('{}')
    segs = [(w, False) for w in _WORD.findall(before)]
    segs += [(str(n), True) for n in prompt_names]
    segs += [(w, False) for w in _WORD.findall(after)]
    return segs


def _segment_words(text: str, is_name: bool) -> List[List[str]]:
    """Lookup alternatives: the phrase as one entry, else its words."""
    alts = [_candidates(text)]
    if is_name:
        alts += [_candidates(w) for w in _WORD.findall(text)]
    return alts


def _mean_of_words(name: str, vectors: dict, path: str) -> np.ndarray:
    """The mean vector of a class name's words; each must be known."""
    parts = []
    for word in _WORD.findall(name):
        hit = next((w for w in _candidates(word) if w in vectors), None)
        if hit is None:
            raise Word2VecError(
                f'The word {word!r} of the class name {name!r} is not in '
                f'the word2vec file "{path}" (tried {_candidates(word)}). '
                'Give the class another name with --prompt-names, or use '
                'vectors that cover it.')
        parts.append(vectors[hit][1])
    return np.mean(parts, axis=0)


def extract_word2vec_embeddings(
        prompt_names: Sequence[str],
        template: str,
        path: str,
        binary: Optional[bool] = None,
        skip_unknown_template_words: bool = False
) -> Tuple[torch.Tensor, torch.Tensor, List[str]]:
    """word2vec embeddings of the prompt, one row per word or class name.

    Rows follow the prompt: the template's words, then one row per class.
    A class name is looked up as one phrase first (``'Pleural_Thickening'``,
    the way word2vec stores phrases), then in lower case; otherwise its row
    is the average of its words' vectors (each tried as written, then in
    lower case).

    Args:
        prompt_names (Sequence[str]): The class names as written in the
            prompt.
        template (str): The prompt template with one ``{}``.
        path (str): The word2vec file.
        binary (bool, optional): Its format; ``None`` detects it.
        skip_unknown_template_words (bool): Drop template words missing from
            the vocabulary (GoogleNews has no "of", "a", "and", "to")
            instead of raising. Class-name words are always required.

    Returns:
        tuple: ``tokens`` LongTensor (M,) (each row's 0-based position in the
        file, ``AVERAGED_TOKEN`` (-1) for an averaged class name),
        ``embeddings`` FloatTensor (M, D) and the skipped template words.
    """
    segs = prompt_segments(prompt_names, template)
    wanted = {w for text, is_name in segs
              for alt in _segment_words(text, is_name) for w in alt}
    vectors, dims = read_word2vec(path, wanted, binary=binary)
    rows, tokens, skipped = [], [], []
    for text, is_name in segs:
        phrase = next((w for w in _candidates(text) if w in vectors), None)
        if phrase is not None:
            tokens.append(vectors[phrase][0])
            rows.append(vectors[phrase][1])
            continue
        if not is_name:
            if skip_unknown_template_words:
                skipped.append(text)
                continue
            raise Word2VecError(
                f'The template word {text!r} is not in the word2vec file '
                f'"{path}". Pass --skip-unknown-template-words to leave it '
                'out, or a --template without it.')
        rows.append(_mean_of_words(text, vectors, path))
        tokens.append(AVERAGED_TOKEN)
    emb = torch.from_numpy(np.stack(rows).astype(np.float32))
    return torch.tensor(tokens, dtype=torch.long), emb, skipped
