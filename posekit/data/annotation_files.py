"""Annotation files read with one line of error naming the file: JSON and MATLAB ``.mat``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from posekit.errors import DataError


def read_json(path: Path) -> Any:
    """Parse a JSON annotation file; invalid JSON (and JSON nested too deeply for the parser, or with an integer too
    long to convert) is a DataError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except RecursionError:
        raise DataError(f"{path}: invalid JSON (nested too deeply)",
                        hint="re-download or re-extract this annotation file") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4,300 digits
        raise DataError(f"{path}: invalid JSON ({str(exc).splitlines()[0][:160]})",
                        hint="re-download or re-extract this annotation file") from None


def read_mat(path: Path, key: str) -> Any:
    """Variable ``key`` of a MATLAB v5/v7 ``.mat`` file (scipy); DataError naming the file if unreadable or absent."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        mat = scipy.io.loadmat(path)
    except NotImplementedError:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not read",
                        hint="re-save it in MATLAB with save(..., '-v7'), or use the official file") from None
    except (MatReadError, OSError, ValueError, TypeError, EOFError, IndexError, KeyError) as exc:
        raise DataError(f"{path}: not a readable .mat file ({exc.__class__.__name__}: {str(exc)[:120]})",
                        hint="re-download or re-extract this file") from None
    if key not in mat:
        raise DataError(f"{path}: no variable {key!r} (found {', '.join(k for k in mat if not k.startswith('__'))})",
                        hint="use the file of the official release")
    return mat[key]
