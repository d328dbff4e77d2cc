"""The one resolver of a data argument: a file, or a built-in name (``digits``,
``digits:<train|test>:SEED``, and for language models the bundled text ``corpus``,
``corpus:<train|test>``), for every command that takes data."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, overload

from ..errors import InputError

if TYPE_CHECKING:  # the CLI imports this for its help texts: torch stays unimported
    from ..model.data import Dataset
    from ..model.spec import ModelSpec

DATA_FORMS = (".npz (x, y), .csv (label last), digits or digits:<train|test>:SEED; for a language model "
              "a .txt file, corpus or corpus:<train|test>")
_NAME = re.compile(r"digits(:(train|test):\d+)?|corpus(:(train|test))?")


@overload
def source_name(data: str | Path | None) -> str: ...
@overload
def source_name(data: str | Path | None, default: None) -> str | None: ...


def source_name(data: str | Path | None, default: str | None = "digits") -> str | None:
    """A built-in name as given, a file as its absolute path; ``default`` when none is given
    (``digits``, or None where the committed or published source is the default)."""
    if data is None:
        return default
    text = str(data)
    if _NAME.fullmatch(text):
        return text
    if text.startswith("digits:"):
        raise InputError(f"unknown built-in data '{text}'", hint="use digits or digits:<train|test>:SEED")
    if text.startswith("corpus:"):
        raise InputError(f"unknown built-in data '{text}'", hint="use corpus, corpus:train or corpus:test")
    return str(Path(text).resolve())


def default_source(spec: ModelSpec) -> str:
    """The data a command takes when none is given: the bundled text's training split for a
    language model, the digits otherwise."""
    return "corpus:train" if spec.loss == "next_token" else "digits"


def load_data(data: str | None, spec: ModelSpec) -> Dataset:
    """``data`` (``default_source`` when None) reshaped to the spec's input shape, its targets checked
    against the spec's target shape."""
    from ..model.dataset import load_for

    ds = load_for(spec, source_name(data, default_source(spec)))
    if ds.num_classes is None and ds.labels[0].size != math.prod(spec.target_shape):
        raise InputError(f"{data}: targets have {ds.labels[0].size} values per sample, the model's target shape is "
                         f"{list(spec.target_shape)}", hint="give y with one target row per sample")
    return ds
