"""Proven generation: a language model's greedy continuation of a prompt, one proven token at a time.

Each next token is an answer (``zkgrad.train.answer``): the answer circuit's inference over the
last ``context`` tokens, bound to the weights it used, its proof written to the output folder (so
anyone can ``zkgrad verify`` it) and, with a registry, accepted against the head, which records
the version that said it. The token is the argmax of the proven logits at the window's last
prompt position (the lowest id on a tie). A window shorter than the context is padded on the
right with id 0: attention is causal, so padding after a position never changes its logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .. import fsio
from ..chain.records import AnswerRecord
from ..chain.registry import Registry
from ..circuits.model_circuits import ModelCircuits
from ..errors import ChainError, InputError
from ..model import text
from ..model.checkpoint import Checkpoint
from ..progress import Reporter
from .answer import prove_answer
from .join import published_state
from .workspace import Workspace


@dataclass(frozen=True)
class Token:
    index: int
    """Position in the generated continuation, from 0."""
    char: str
    logits: list[float]
    """The proven logits of the position read, one per vocabulary entry."""
    proof: Path
    answer: AnswerRecord | None = None
    """The registry's record of the answer, when submitted."""


@dataclass
class Generation:
    prompt: str
    version: int | None
    """The model version that answered (None: no registry, the workspace's head)."""
    weights: bytes
    tokens: list[Token] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(t.char for t in self.tokens)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "text": self.text, "version": self.version, "weights": "0x" + self.weights.hex(),
                "tokens": [{"char": t.char, "proof": t.proof.name, "logits": t.logits,
                            "answer_id": t.answer.answer_id if t.answer else None} for t in self.tokens]}


def window(ids: list[int], context: int) -> tuple[np.ndarray, int]:
    """The model's input for the next token after ``ids`` and the position to read."""
    last = ids[-context:]
    return np.array(last + [0] * (context - len(last)), dtype=np.float64), len(last) - 1


def head_checkpoint(ws: Workspace, registry: Registry | None, model_id: int | None) -> tuple[Checkpoint, int | None]:
    """The weights to answer with: the model's head on chain (from the workspace, or rebuilt from
    its published update), or without a registry the workspace's latest proven step."""
    if registry is None or model_id is None:
        steps = ws.step_summaries()
        last = max(steps, key=lambda s: s.version) if steps else None
        ckpt = ws.checkpoint_for(bytes.fromhex(last.after[2:])) if last else None
        return (ckpt or ws.genesis()), None
    info = registry.model(model_id)
    ckpt = ws.checkpoint_for(info.head) or published_state(registry, model_id, ws.genesis())
    if ckpt.commitment != info.head:
        raise ChainError(f"the head of model {model_id} is no state this workspace can rebuild",
                         hint="train the workspace to the head ('zkgrad train') first")
    return ckpt, info.version


def generate(ws: Workspace, prompt: str, tokens: int, *, out: Path, registry: Registry | None = None,
             model_id: int | None = None, on_token: Callable[[Token], None] | None = None,
             reporter: Reporter | None = None) -> Generation:
    """Continue ``prompt`` by ``tokens`` proven tokens (the module docstring)."""
    spec = ws.spec
    if spec.loss != "next_token" or spec.vocab is None:
        raise InputError(f"{ws.root} holds no language model (loss {spec.loss})",
                         hint="generate with a model made by 'zkgrad model init --text'")
    ids = text.prompt_ids(prompt, spec.vocab)
    if tokens < 1:
        raise InputError(f"{tokens} tokens: nothing to generate", hint="pass --tokens N with N >= 1")
    circuits = ws.circuits()
    ckpt, version = head_checkpoint(ws, registry, model_id)
    gen = Generation(prompt, version, ckpt.weights_commitment)
    with fsio.staged_dir(out, "generation") as tmp:
        for i in range(tokens):
            gen.tokens.append(_next(ws, circuits, ckpt, ids, i, tmp, out, registry, model_id, version, reporter))
            ids.append(spec.vocab.index(gen.tokens[-1].char))
            if on_token is not None:
                on_token(gen.tokens[-1])
        fsio.write_json(tmp / "generation.json", gen.to_dict())
    return gen


def next_folder(ws: Workspace) -> Path:
    """``WS/generations/NNNN``, the first number not taken."""
    taken = {p.name for p in (ws.root / "generations").glob("[0-9]" * 4)}
    return ws.root / "generations" / next(f"{n:04d}" for n in range(1, 10_000) if f"{n:04d}" not in taken)


def _next(ws: Workspace, circuits: ModelCircuits, ckpt: Checkpoint, ids: list[int], i: int, tmp: Path, out: Path,
          registry: Registry | None, model_id: int | None, version: int | None, reporter: Reporter | None) -> Token:
    """Prove (and submit) token ``i`` after ``ids``; its proof is written in ``tmp``, named as in ``out``."""
    spec = ws.spec
    assert spec.vocab is not None
    x, at = window(ids, spec.context)
    name = f"token-{i:04d}.proof.json"
    ans = prove_answer(circuits, ckpt, x, out=tmp / name, reporter=reporter)
    logits = np.asarray(ans.logits, dtype=np.float64).reshape(spec.context, spec.num_classes)[at]
    record = None
    if registry is not None and model_id is not None and version is not None:
        record = _accepted(registry, model_id, version, ans.result.proof.proof_bytes, ans.result.proof.instances)
    return Token(i, spec.vocab[int(np.argmax(logits))], logits.tolist(), out / name, record)


def _accepted(registry: Registry, model_id: int, version: int, proof: bytes, instances: list[int]) -> AnswerRecord:
    """The registry's record of this answer: submitted now, or the one it already holds (the same
    window at the same version is the same answer; the registry refuses it twice)."""
    known = registry.find_answer(model_id, version, instances)
    if known is None:
        return registry.submit_answer(model_id, proof, instances, version=version)
    submitter, at, block, commitment, outputs = registry.get_answer(model_id, known)
    return AnswerRecord(model_id=model_id, answer_id=known, version=at, input=commitment, outputs=outputs,
                        submitter=submitter, block=block, tx_hash="", gas_used=0)
