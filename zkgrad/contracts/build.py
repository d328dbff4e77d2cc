"""Build ``build.json`` from the sources beside it with the pinned solc.

    python -m zkgrad.contracts.build           rewrite build.json
    python -m zkgrad.contracts.build --check   exit 1 if build.json is not what the sources build

The output depends only on the sources, the compiler version and the settings, so a rebuild is
byte-identical (solc's metadata hash inside the bytecode pins all three). The sources include the
library files they import (OpenZeppelin's, from the tools folder): ``sources`` records the sha256
of each, by its import path, so ``--check`` also catches another library version.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from .. import fsio
from ..toolchain import SOLC_VERSION, find_solc
from . import OPTIMIZE_RUNS, VIA_IR, build_file, sources_dir


def build() -> str:
    """The text of ``build.json`` for the sources as they are now."""
    root = sources_dir()
    paths = sorted(root.glob("*.sol"))
    out = find_solc().compilation(paths, optimize_runs=OPTIMIZE_RUNS, via_ir=VIA_IR)
    files = {p.name: p for p in paths} | out.imports
    doc: dict[str, Any] = {
        "solc": SOLC_VERSION,
        "settings": {"optimizer_runs": OPTIMIZE_RUNS, "via_ir": VIA_IR},
        "sources": {name: hashlib.sha256(f.read_bytes()).hexdigest() for name, f in files.items()},
        "contracts": {
            name: {"abi": c.abi, "bytecode": "0x" + c.bytecode.hex(), "runtime_size": c.runtime_size}
            for name, c in sorted(out.contracts.items())
        },
    }
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = build()
    if "--check" in argv:
        same = build_file().is_file() and build_file().read_text() == text
        print(f"{build_file()}: {'up to date' if same else 'STALE: run python -m zkgrad.contracts.build'}")
        return 0 if same else 1
    fsio.write_text(build_file(), text)
    print(f"wrote {build_file()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
