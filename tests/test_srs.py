"""SRS files: ezkl's format, the development SRS cache and the checks on a ceremony SRS.

Forged files are built here from scratch with py_ecc (known tau), so the encoder below is an
independent second reading of the format; ``test_encoding_matches_ezkl`` pins it to ezkl's bytes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from py_ecc import optimized_bn128 as bn

from zkgrad.circuits import srs
from zkgrad.circuits.srs import (
    SrsInfo,
    check_srs,
    dev_srs,
    load_srs_logrows,
    srs_file_size,
)
from zkgrad.errors import SrsError

P = bn.field_modulus
R = bn.curve_order
K = 5  # dev SRS: 32 powers
N = 1 << K
G1_OFF = 4  # g[i] at G1_OFF + 64 i; g_lagrange[i] at G1_OFF + 64 (N + i)


# --- an independent encoder: Montgomery form, little-endian ------------------------------
def enc_fq(v: int) -> bytes:
    return (v * 2**256 % P).to_bytes(32, "little")


def enc_g1(pt: tuple) -> bytes:
    x, y = bn.normalize(pt)
    return enc_fq(x.n) + enc_fq(y.n)


def enc_g2(pt: tuple) -> bytes:
    x, y = bn.normalize(pt)
    return b"".join(enc_fq(c) for c in (*x.coeffs, *y.coeffs))


def build_srs(k: int, tau: int, *, upper_tau: int | None = None, base: int = 1,
              lagrange_tau: int | None = None) -> bytes:
    """An SRS file for a known tau; ``upper_tau`` forges the upper half of the powers,
    ``lagrange_tau`` the Lagrange section (tau must not be a power of omega there)."""
    n = 1 << k
    omega = pow(7, (R - 1) // n, R)  # 7 generates Fr*, so omega has order exactly n
    assert pow(omega, n // 2, R) == R - 1
    g1 = bn.multiply(bn.G1, base)
    powers = [pow(upper_tau if upper_tau and i >= n // 2 else tau, i, R) for i in range(n)]
    inv_n = pow(n, -1, R)
    lt = lagrange_tau or tau
    lagrange = [pow(omega, i, R) * (pow(lt, n, R) - 1) * inv_n * pow(lt - pow(omega, i, R), -1, R) % R
                for i in range(n)]
    assert sum(lagrange) % R == 1
    return (k.to_bytes(4, "little")
            + b"".join(enc_g1(bn.multiply(g1, c)) for c in powers)
            + b"".join(enc_g1(bn.multiply(g1, c)) for c in lagrange)
            + enc_g2(bn.G2) + enc_g2(bn.multiply(bn.G2, tau)))


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> SrsInfo:
    return dev_srs(K, cache_dir=tmp_path_factory.mktemp("srs"))


@pytest.fixture(scope="module")
def dev_bytes(dev: SrsInfo) -> bytes:
    return dev.path.read_bytes()


def refused(path: Path, min_logrows: int = K, **kw: object) -> str:
    with pytest.raises(SrsError) as err:
        check_srs(path, min_logrows, seed=7, samples=0, **kw)  # type: ignore[arg-type]
    text = str(err.value)
    assert "\n" not in text and err.value.hint
    return text


# --- the development SRS -----------------------------------------------------------------
def test_dev_srs_is_cached_labelled_and_passes_the_check(dev: SrsInfo, dev_bytes: bytes) -> None:
    assert dev.kind == "dev" and dev.logrows == K and dev.path.name == f"dev-k{K}.srs"
    assert len(dev_bytes) == srs_file_size(K) == 4 + 128 * N + 256
    assert dev.sha256 == hashlib.sha256(dev_bytes).hexdigest()
    checked = check_srs(dev.path, K, seed=1)
    assert (checked.kind, checked.logrows, checked.sha256) == ("ceremony", K, dev.sha256)
    assert load_srs_logrows(dev.path) == K
    # a second call reuses the file
    mtime = dev.path.stat().st_mtime_ns
    assert dev_srs(K, cache_dir=dev.path.parent) == dev
    assert dev.path.stat().st_mtime_ns == mtime


def test_dev_srs_replaces_a_broken_cached_file(tmp_path: Path) -> None:
    broken = tmp_path / "dev-k3.srs"
    broken.write_bytes(b"\x03\x00\x00\x00" + b"\x00" * 100)
    info = dev_srs(3, cache_dir=tmp_path)
    assert info.path == broken and broken.stat().st_size == srs_file_size(3)
    check_srs(broken, 3, seed=2)
    assert [p.name for p in tmp_path.iterdir()] == ["dev-k3.srs"]  # no temporary left behind


def test_dev_srs_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKGRAD_HOME", str(tmp_path))
    assert dev_srs(2).path == tmp_path / "srs" / "dev-k2.srs"


def test_larger_srs_serves_a_smaller_circuit(dev: SrsInfo) -> None:
    assert check_srs(dev.path, K - 2, seed=3).logrows == K


def test_encoding_matches_ezkl(dev_bytes: bytes) -> None:
    """g[0] is the G1 generator and g2 the G2 generator, byte for byte in our encoding."""
    assert dev_bytes[G1_OFF : G1_OFF + 64] == enc_g1(bn.G1)
    g2_off = G1_OFF + 128 * N
    assert dev_bytes[g2_off : g2_off + 128] == enc_g2(bn.G2)


def test_a_file_built_from_a_known_tau_passes(tmp_path: Path) -> None:
    path = tmp_path / "built.srs"
    path.write_bytes(build_srs(4, tau=123456789))
    assert check_srs(path, 4, seed=4).logrows == 4


# --- refusals ----------------------------------------------------------------------------
def flip(offset: int, mask: int = 0x01) -> Callable[[bytearray], None]:
    def edit(b: bytearray) -> None:
        b[offset] ^= mask
    return edit


def swap_g(i: int, j: int) -> Callable[[bytearray], None]:
    def edit(b: bytearray) -> None:
        a, c = G1_OFF + 64 * i, G1_OFF + 64 * j
        b[a : a + 64], b[c : c + 64] = b[c : c + 64], b[a : a + 64]
    return edit


def add_generator_to_lagrange(i: int) -> Callable[[bytearray], None]:
    def edit(b: bytearray) -> None:
        o = G1_OFF + 64 * (N + i)
        x, y = (int.from_bytes(b[o + s : o + s + 32], "little") * pow(2**256, -1, P) % P for s in (0, 32))
        b[o : o + 64] = enc_g1(bn.add((bn.FQ(x), bn.FQ(y), bn.FQ.one()), bn.G1))
    return edit


S_G2_OFF = G1_OFF + 128 * N + 128
CORRUPTIONS = [
    ("truncated", lambda b: b.__delitem__(slice(-10, None)), "needs"),
    ("padded", lambda b: b.extend(b"\x00" * 64), "needs"),
    ("header says k=40", lambda b: b.__setitem__(slice(0, 4), (40).to_bytes(4, "little")), "outside 1..28"),
    ("header says k=4", lambda b: b.__setitem__(slice(0, 4), (4).to_bytes(4, "little")), "needs"),
    ("g[7].x low byte flipped", flip(G1_OFF + 64 * 7), "g[7] is not a point on BN254"),
    ("g[31].y low byte flipped", flip(G1_OFF + 64 * 31 + 32), "g[31] is not a point on BN254"),
    ("g[3].x above the modulus", flip(G1_OFF + 64 * 3 + 31, 0xF0), "g[3] has a coordinate outside the field"),
    ("g_lagrange[5] flipped", flip(G1_OFF + 64 * (N + 5) + 1), "g_lagrange[5] is not a point on BN254"),
    ("g_lagrange[2] moved on the curve", add_generator_to_lagrange(2), "do not sum to the generator"),
    ("g[0] swapped with g[1]", swap_g(0, 1), "g[0] is not the BN254 G1 generator"),
    ("g[10] swapped with g[11]", swap_g(10, 11), "not consecutive"),
    ("g2 flipped", flip(G1_OFF + 128 * N + 5), "g2 is not the BN254 G2 generator"),
    ("s_g2 flipped", flip(S_G2_OFF + 40), "s_g2 is not a point on the BN254 G2 twist"),
]


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_corrupt_dev_file_is_refused(tmp_path: Path, dev_bytes: bytes, edit: Callable[[bytearray], None],
                                     message: str) -> None:
    data = bytearray(dev_bytes)
    edit(data)
    path = tmp_path / "bad.srs"
    path.write_bytes(bytes(data))
    assert message in refused(path, indices=[10])


def test_missing_and_empty_files_are_refused(tmp_path: Path) -> None:
    assert "not found" in refused(tmp_path / "nope.srs")
    (tmp_path / "empty.srs").write_bytes(b"\x05\x00")
    assert "too short" in refused(tmp_path / "empty.srs")


def test_too_small_an_srs_is_refused(dev: SrsInfo) -> None:
    text = refused(dev.path, min_logrows=K + 1)
    assert f"has logrows {K} but the circuit needs {K + 1}" in text and f"logrows >= {K + 1}" in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tau": 99, "upper_tau": 98}, "not consecutive"),  # only the always-checked last pair catches it
        ({"tau": 1, "lagrange_tau": 5}, "tau is 0, 1 or -1"),
        ({"tau": 99, "base": 2}, "g[0] is not the BN254 G1 generator"),
    ],
    ids=["upper half forged", "trivial tau", "wrong base point"],
)
def test_forged_files_are_refused(tmp_path: Path, kwargs: dict[str, int], message: str) -> None:
    path = tmp_path / "forged.srs"
    path.write_bytes(build_srs(4, **kwargs))
    assert message in refused(path, min_logrows=4)


def test_forged_s_g2_is_refused(tmp_path: Path) -> None:
    data = bytearray(build_srs(4, tau=1000))
    data[-128:] = enc_g2(bn.multiply(bn.G2, 1001))
    path = tmp_path / "forged.srs"
    path.write_bytes(bytes(data))
    assert "not consecutive" in refused(path, min_logrows=4)


# --- the point sum used for the Lagrange check --------------------------------------------
def _sum_with(scalars: list[int]) -> srs._G1Sum:
    acc = srs._G1Sum()
    for c in scalars:
        x, y = bn.normalize(bn.multiply(bn.G1, c))
        acc.add(x.n, y.n)
    return acc


def test_point_sum_handles_doubling_and_cancelling() -> None:
    three = bn.normalize(bn.multiply(bn.G1, 3))
    assert _sum_with([1, 1, 1]).equals(three[0].n, three[1].n)  # P + P goes through doubling
    assert _sum_with([5, R - 5, 1]).equals(1, 2)  # P + (-P) is infinity, then + G
    assert not _sum_with([5, R - 5]).equals(1, 2)


@pytest.mark.fuzzing
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=R - 1), min_size=1, max_size=6))
def test_point_sum_matches_py_ecc(scalars: list[int]) -> None:
    assume(sum(scalars) % R != 0)
    x, y = bn.normalize(bn.multiply(bn.G1, sum(scalars) % R))
    assert _sum_with(scalars).equals(x.n, y.n)


def test_sampling_is_repeatable_with_a_seed() -> None:
    a = srs._pairs(1 << 10, 8, [5], random.Random(3))
    assert a == srs._pairs(1 << 10, 8, [5], random.Random(3))
    assert {0, 5, (1 << 10) - 2} <= set(a) and len(a) <= 11
    with pytest.raises(ValueError):
        srs._pairs(16, 0, [15], random.Random(0))
