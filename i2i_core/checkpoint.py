"""Checkpoints that hold only tensors, containers and primitives, written atomically.

A bare ``torch.load(f, weights_only=True, map_location="cpu")`` reads every i2i checkpoint; a
file that would need to unpickle code is refused, never run.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import torch

from .errors import CheckpointError, WriteError

FORMAT = "i2i-checkpoint-1"


def save_atomic(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` with :func:`write_atomic`."""
    write_atomic(path, lambda f: torch.save(obj, f))


def write_atomic(path: str | os.PathLike, write) -> None:
    """Call ``write(binary file)`` on a temporary file in the same folder, flush, fsync, then
    rename it over ``path``: a crash leaves the old file or the new one, never a mix. The file
    gets the old file's permissions, or those of a file created normally (mkstemp's are 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error(exc)
        if cause is not None:  # torch.save buries ENOSPC under its own zip-writer errors
            raise WriteError(f"cannot write {path}: {cause.strerror} (temporary file removed; "
                             f"{'the previous file is kept' if path.exists() else 'nothing was written'})") from exc
        raise
    _fsync_dir(path.parent)


def _os_error(exc: BaseException | None) -> OSError | None:
    """The operating system's error behind ``exc``, following its cause and context."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.strerror:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def remove_temporaries(folder: Path) -> None:
    """Remove what interrupted :func:`write_atomic` calls left in ``folder`` (a ``kill -9`` in a
    save). Only for the folder's one writer: another writer's temporary may still be in use."""
    for stale in Path(folder).glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path: str | os.PathLike, *, require_i2i: bool = True) -> dict:
    """Load a checkpoint with ``weights_only=True``; refuse pickled code and foreign files clearly."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused, the file holds pickled objects that could run code "
                              f"(only tensors and plain containers are loaded): {str(exc).splitlines()[0]}") from exc
    except Exception as exc:  # zip errors, truncated files, random bytes
        raise CheckpointError(f"{path}: not a checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
    if require_i2i and not (isinstance(obj, dict) and obj.get("format") == FORMAT):
        raise CheckpointError(f"{path}: not an i2i checkpoint (no '{FORMAT}' format marker)")
    return obj
