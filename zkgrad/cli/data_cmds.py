"""Committed datasets: zkgrad data commit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .data_opts import DATA_FORMS, default_source, source_name
from .options import Json
from .output import Output, stdout

data_app = typer.Typer(help="Committed datasets: fix a model's training data before it is registered.",
                       no_args_is_help=True)

@data_app.command("commit")
def commit(
    workspace: Annotated[Path, typer.Option("--model", help="Workspace from 'zkgrad model init'")],
    batches: Annotated[int, typer.Option("--batches", min=1, help="Batches committed: update v trains on batch "
                                         "v mod N")],
    data: Annotated[Optional[str], typer.Argument(help=f"Training data: {DATA_FORMS}; default digits (corpus:train for a language model)")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the batch order, as 'zkgrad train --seed'")] = 0,
    held_out: Annotated[Optional[str], typer.Option("--held-out", help="Held-out data (file or digits:test:SEED) "
                                                    "whose first samples are committed too")] = None,
    held_out_size: Annotated[int, typer.Option(help="Held-out samples committed (at least 100 predictions: 100 samples, or 100 / context windows of text)")] = 100,
    json_: Json = False,
) -> None:
    """Commit the model's training data: the Merkle root over its batch commitments, in WS/dataset.json."""
    from ..model.dataset import commit_dataset, load_for
    from ..train.workspace import Workspace

    o = Output(json_)
    ws = Workspace.open(workspace)
    spec = ws.spec
    path = ws.dataset_path
    source = source_name(data, default_source(spec))
    held_source = None if held_out is None else source_name(held_out)
    new = commit_dataset(spec, load_for(spec, source), source=source, seed=seed, n_batches=batches,
                         held_out=None if held_source is None else load_for(spec, held_source),
                         held_out_source=held_source, held_out_size=held_out_size, reporter=o.reporter())
    written = ws.record_dataset(new)
    kept = ws.dataset()
    old = None if written else kept
    o.result({"path": str(path), "unchanged": not written, **kept.to_dict()})
    if not json_:  # plain text: rich would draw ':train:' as an emoji
        held = kept.held_out
        stdout.print(f"{'already committed' if old else 'committed'}: {path}\n  root {kept.root}\n"
                     f"  {kept.n_batches} batches of {kept.batch_size} from {kept.source} (seed {kept.seed}, data "
                     f"sha256 {kept.data_sha256[:16]}…); update v trains on batch v mod {kept.n_batches}"
                     + (f"\n  held-out {held.size} samples of {held.source}: {held.commitment}" if held else ""),
                     markup=False, emoji=False)
