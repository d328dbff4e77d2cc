"""Text for language models: a character tokenizer whose vocabulary is the spec's, the bundled
corpus, and the windows a model trains on.

A token is one character; the vocabulary (``ModelSpec.vocab``) lists the characters of ids
``0 .. V-1`` and is published with the spec. A text becomes samples as windows of ``context``
tokens: ``x`` = ids ``i .. i+T-1``, the targets ``y`` = ids ``i+1 .. i+T`` (the next token at every
position). Training windows start at every offset; a held-out split is cut into disjoint windows,
so each held-out token is counted once.

The bundled corpus (``corpus.txt``, 12,887 characters, 29 symbols): the prose paragraphs of
scikit-learn 1.x's dataset descriptions (``sklearn/datasets/descr/*.rst``, BSD-3-Clause, as
scikit-learn), lower-cased, every character other than a-z, space, comma and full stop made a
space, runs of spaces collapsed. Its last ``HELD_OUT`` is the held-out split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, MissingFileError
from .data import Dataset

CORPUS = Path(__file__).with_name("corpus.txt")
HELD_OUT = 0.1
"""The held-out share of a text: its last tenth."""
SPLITS = ("train", "test")


def corpus() -> str:
    """The bundled corpus (the module docstring)."""
    return CORPUS.read_text(encoding="utf-8")


def read_text(path: Path | str) -> str:
    """A user's text file, UTF-8; refuses an empty one."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, "text file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text (byte {e.start})", hint="save the text as UTF-8") from None
    if not text:
        raise InputError(f"{path} is empty", hint="give a text of at least a few hundred characters")
    return text


def vocabulary(text: str) -> str:
    """The characters of ``text``, sorted: a tokenizer's vocabulary, ids in that order."""
    if len(set(text)) < 2:
        raise InputError("a text needs at least two distinct characters to learn from", hint="give a longer text")
    return "".join(sorted(set(text)))


def encode(text: str, vocab: str) -> np.ndarray:
    """Token ids of ``text``; refuses a character outside ``vocab``, naming it and where."""
    index = {c: i for i, c in enumerate(vocab)}
    for at, c in enumerate(text):
        if c not in index:
            raise InputError(f"character {c!r} (at {at}) is not in the model's vocabulary {vocab!r}",
                             hint="use only the vocabulary's characters (the published spec's vocab)")
    return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))


def prompt_ids(prompt: str, vocab: str) -> list[int]:
    """Token ids of a prompt to continue; refuses an empty one or a character outside ``vocab``."""
    if not prompt:
        raise InputError("the prompt is empty", hint="give at least one character of the vocabulary")
    return [int(i) for i in encode(prompt, vocab)]


def decode(ids: np.ndarray | list[int], vocab: str) -> str:
    return "".join(vocab[int(i)] for i in np.asarray(ids).reshape(-1))


def split(text: str, part: str) -> str:
    """``train``: the first 90 % of ``text``; ``test``: the rest."""
    if part not in SPLITS:
        raise InputError(f"unknown split '{part}'", hint="use train or test")
    cut = int(len(text) * (1 - HELD_OUT))
    return text[:cut] if part == "train" else text[cut:]


def windows(text: str, vocab: str, context: int, *, disjoint: bool = False) -> Dataset:
    """``text`` as samples of ``context`` token ids and their next tokens (the module docstring)."""
    ids = encode(text, vocab)
    if len(ids) < context + 1:
        raise InputError(f"a text of {len(ids)} characters holds no window of {context} tokens and its next",
                         hint=f"give at least {context + 1} characters")
    starts = np.arange(0, len(ids) - context, context if disjoint else 1)
    at = starts[:, None] + np.arange(context)
    return Dataset(ids[at].astype(np.float64), ids[at + 1], len(vocab))


def text_data(source: str, vocab: str, context: int) -> Dataset:
    """``corpus``, ``corpus:train``, ``corpus:test`` (disjoint windows) or a ``.txt`` file's windows."""
    if source == "corpus" or source.startswith("corpus:"):
        part = source.partition(":")[2]
        if part and part not in SPLITS:
            raise InputError(f"unknown data name '{source}'", hint="use corpus, corpus:train, corpus:test or a .txt file")
        text = split(corpus(), part) if part else corpus()
        return windows(text, vocab, context, disjoint=part == "test")
    if Path(source).suffix != ".txt":
        raise InputError(f"a language model trains on text, not {source}", hint="give a .txt file or corpus[:train|test]")
    return windows(read_text(source), vocab, context)
