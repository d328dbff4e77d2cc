"""Every external or public function of the shipped contracts says what it does, what each
parameter is and what it returns (NatSpec), or inherits that from the declaration it overrides."""

from __future__ import annotations

import re
from pathlib import Path

from zkgrad import contracts

_FUNCTION = re.compile(r"((?:[ \t]*///[^\n]*\n)*)[ \t]*function\s+(\w+)\s*\(([^)]*)\)([^{;]*)")


def undocumented(source: str) -> list[str]:
    """``name: what is missing`` for each external or public function of ``source``."""
    found = []
    for doc, name, params, rest in _FUNCTION.findall(source):
        if not re.search(r"\b(external|public)\b", rest) or "@inheritdoc" in doc:
            continue
        names = [p.split()[-1] for p in params.split(",") if len(p.split()) > 1]
        missing = [f"@param {p}" for p in names if f"@param {p}" not in doc]
        if "@notice" not in doc:
            missing.insert(0, "@notice")
        if "returns" in rest and "@return" not in doc:
            missing.append("@return")
        if missing:
            found.append(f"{name}: {', '.join(missing)}")
    return found


def test_every_external_function_of_the_contracts_has_natspec() -> None:
    sources = sorted(Path(contracts.sources_dir()).glob("*.sol"))
    assert len(sources) >= 5
    assert {f.name: undocumented(f.read_text()) for f in sources} == {f.name: [] for f in sources}


def test_the_check_sees_what_is_missing() -> None:
    source = ("    /// @notice Adds.\n    /// @param a one\n    function add(uint256 a, uint256 b) external pure "
              "returns (uint256) {}\n    function hidden(uint256 c) internal {}\n"
              "    /// @inheritdoc Base\n    function over(uint256 d) public view override returns (bool) {}\n"
              "    function bare() public {}\n")
    assert undocumented(source) == ["add: @param b, @return", "bare: @notice"]
