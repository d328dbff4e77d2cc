"""Atomic writes: a file is written under a temporary name in the same folder, then renamed; a
folder is built under a temporary name, marked with its kind, then swapped in as a whole, and
only over a missing or empty folder or one zkgrad made of the same kind."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil


def zkgrad_home() -> Path:
    """``$ZKGRAD_HOME`` or ``~/.zkgrad``: caches (SRS, circuits), the local chain's state, registries."""
    env = os.environ.get("ZKGRAD_HOME")
    return Path(env).expanduser() if env else Path.home() / ".zkgrad"


def write_bytes(path: Path, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode())


def write_json(path: Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextmanager
def temp_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` for tools that write files themselves (ezkl);
    renamed onto ``path`` on success, removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


MARKER = ".zkgrad.json"
"""Written into every folder zkgrad builds as a whole: ``{"artifact": KIND, "zkgrad": VERSION}``.
Only an empty folder or one of the same kind is ever replaced."""

# Folders written before the marker existed: the kind's own file and keys it always held.
_LEGACY = {"circuit": ("manifest.json", ("key", "ezkl")), "step": ("step.json", ("before", "after")),
           "workspace": ("spec.json", ("factory",))}


def artifact_kind(folder: Path) -> str | None:
    """The kind of zkgrad artifact ``folder`` is, from its marker (or its legacy file); else None."""
    folder = Path(folder)
    marker = _json_object(folder / MARKER)
    if "artifact" in marker:
        return str(marker["artifact"])
    for kind, (name, keys) in _LEGACY.items():
        doc = _json_object(folder / name)
        if all(k in doc for k in keys):
            return kind
    return None


def _json_object(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def check_target(final: Path, kind: str, *, what: str = "--out") -> None:
    """Refuse ``final`` unless it is missing, an empty folder, or a zkgrad ``kind`` folder."""
    from .errors import OutputExistsError

    final = Path(final)
    if not final.exists() and not final.is_symlink():
        return
    found = artifact_kind(final) if final.is_dir() else None
    if final.is_dir() and not final.is_symlink() and (found == kind or not any(final.iterdir())):
        return
    raise OutputExistsError(final, kind, found=found, what=what)


def check_file_target(path: Path, kind: str, same_kind: Callable[[Path], bool], *, what: str = "--out") -> None:
    """Refuse to overwrite ``path`` unless it is missing or a file zkgrad wrote of the same ``kind``."""
    from .errors import OutputExistsError

    path = Path(path)
    if path.exists() and not (path.is_file() and not path.is_symlink() and same_kind(path)):
        raise OutputExistsError(path, kind, what=what, thing="file")


def json_with(*keys: str) -> Callable[[Path], bool]:
    """A ``same_kind`` test for ``check_file_target``: a JSON object holding all ``keys``."""
    return lambda path: all(k in _json_object(path) for k in keys)


def stage_dir(final: Path, kind: str, *, what: str = "--out") -> Path:
    """A new, empty staging folder beside ``final`` (checked first with ``check_target``)."""
    final = Path(final)
    check_target(final, kind, what=what)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale(final.parent, final.name)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".partial", dir=final.parent))


def sweep_stale(parent: Path, name: str | None = None) -> None:
    """Remove the staging and set-aside folders in ``parent`` (of target ``name``, or of any target)
    left by a process that no longer runs (killed mid-build): their names carry the builder's pid,
    ``.NAME.PID.RANDOM.partial`` / ``.old``."""
    for p in Path(parent).glob(".*"):
        suffix = next((x for x in (".partial", ".old") if p.name.endswith(x)), None)
        if suffix is None or not p.is_dir():
            continue
        parts = p.name[: -len(suffix)].rsplit(".", 2)
        if len(parts) != 3 or (name is not None and parts[0] != f".{name}") or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != os.getpid() and not psutil.pid_exists(pid):
            shutil.rmtree(p, ignore_errors=True)


def commit_dir(tmp: Path, final: Path, kind: str, *, what: str = "--out") -> Path:
    """Mark ``tmp`` as a ``kind`` folder and swap it in for ``final``: the old folder (checked again)
    is renamed aside, the new one renamed in, then the old one removed."""
    from . import __version__

    final = Path(final)
    write_json(Path(tmp) / MARKER, {"artifact": kind, "zkgrad": __version__})
    check_target(final, kind, what=what)
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".old", dir=final.parent))
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


@contextmanager
def staged_dir(final: Path, kind: str, *, what: str = "--out") -> Iterator[Path]:
    """Build a whole ``kind`` folder under a temporary name; it replaces ``final`` only when complete,
    and only if ``final`` is missing, empty, or a folder of the same kind (else OutputExistsError)."""
    tmp = stage_dir(final, kind, what=what)
    try:
        yield tmp
        commit_dir(tmp, final, kind, what=what)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def read_json(path: Path, what: str = "JSON file") -> Any:
    from .errors import InputError, MissingFileError

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(path, what)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{what} {path} is not valid JSON: {e}", hint="check the file", path=str(path)) from e
