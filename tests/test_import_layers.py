"""zkgrad's imports flow one way: model → circuits → prover → verifier → chain → train → cli.

Every import in the package (at module level or inside a function) is read from the source; an
arrow from a lower stage to a higher one fails. Modules outside the stage packages, the ground
floor (errors, fsio, layout, the ezkl edge ``engine``, toolchain, contracts, ...), are shared by
all stages and import none of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import zkgrad

STAGES = ("model", "circuits", "prover", "verifier", "chain", "train", "cli")
ROOT = Path(zkgrad.__file__).resolve().parent


def _module(path: Path, root: Path = ROOT) -> str:
    parts = ["zkgrad", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _rank(module: str) -> int:
    """0 for shared modules, 1 + the stage's index for a stage's modules; the entry point is cli."""
    parts = module.split(".")
    if parts[1:2] == ["__main__"]:
        return 1 + STAGES.index("cli")
    return 1 + STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else 0


def _imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, module) for every zkgrad module ``path`` imports."""
    module = _module(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            if target == "zkgrad":  # from zkgrad import fsio: the names are modules
                found += [(node.lineno, f"zkgrad.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return [(line, m) for line, m in found if m == "zkgrad" or m.startswith("zkgrad.")]


def upward_imports(root: Path = ROOT) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        source = _module(path, root)
        for line, target in _imports(path, root):
            if _rank(target) > _rank(source):
                bad.append(f"{path.relative_to(root.parent)}:{line}: {source} imports {target}")
    return bad


def test_no_import_runs_from_a_lower_stage_to_a_higher_one() -> None:
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    assert len(list(ROOT.rglob("*.py"))) > 40  # the walk really covers the package
    fake = tmp_path / "zkgrad"
    (fake / "circuits").mkdir(parents=True)
    (fake / "fsio.py").write_text("from zkgrad.circuits import export\n")
    (fake / "circuits" / "compile.py").write_text(
        "from . import engine\nfrom ..errors import CircuitError\n\n"
        "def f():\n    from ..verifier.solidity import build_verifier\n")
    assert upward_imports(fake) == [
        "zkgrad/circuits/compile.py:5: zkgrad.circuits.compile imports zkgrad.verifier.solidity",
        "zkgrad/fsio.py:1: zkgrad.fsio imports zkgrad.circuits",
    ]


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """Each set of modules that import one another round a circle (any import, lazy ones too)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        graph[_module(path, root)] = {m for _, m in _imports(path, root)}
    for targets in graph.values():  # 'from zkgrad.x import name' where name is no module: the import of x
        targets.intersection_update(graph)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                cycles.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_no_two_modules_import_each_other_round_a_circle() -> None:
    assert import_cycles() == []


def test_the_check_sees_a_circle(tmp_path: Path) -> None:
    fake = tmp_path / "zkgrad"
    (fake / "prover").mkdir(parents=True)
    (fake / "prover" / "pool.py").write_text("def open_pool():\n    from .ray_pool import RayPool\n")
    (fake / "prover" / "ray_pool.py").write_text("from .pool import ProveJob\n")
    (fake / "prover" / "jobs.py").write_text("from ..errors import ProverError\n")
    assert import_cycles(fake) == [["zkgrad.prover.pool", "zkgrad.prover.ray_pool"]]
