"""HDF5 files written so that a failed write (full disk, quota, file-size limit) is a clean ``OSError``.

HDF5 (2.0 here) does not survive a failed ``write()``: the failure surfaces late, while a chunk cache is flushed
in a destructor (h5py then prints "Exception ignored" tracebacks), and closing the file, or the library at exit,
then crashes the process with a segmentation fault. So HDF5 never sees one: it writes through ``GuardedIO``, a
file object whose first failed write is recorded and whose later writes are skipped while reporting success. The
writer checks the record after each batch and at close, and raises the original error (ENOSPC, EDQUOT, EFBIG …)
naming the artifact; its caller removes the temporary file. A failed file is never renamed into place.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import h5py


class GuardedIO(io.RawIOBase):
    """A binary file for h5py's file-object driver that never fails a write: the first error is kept in ``error``,
    and from then on writes are skipped (the file is garbage and will be deleted)."""

    def __init__(self, path: Path):
        self.f = open(path, "w+b", buffering=0)  # noqa: SIM115  (closed by close())
        self.error: OSError | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def tell(self) -> int:
        return self.f.tell()

    def readinto(self, buffer) -> int:
        return self.f.readinto(buffer)

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while self.error is None and done < len(view):
            try:
                n = self.f.write(view[done:])
            except OSError as exc:
                self.error = exc
                break
            done += n or 0
            if not n:
                self.error = OSError(f"short write to {self.f.name}")
        if done < len(view):
            self.f.seek(len(view) - done, 1)  # pretend it was written
        return len(view)

    def truncate(self, size: int | None = None) -> int:
        if self.error is None:
            try:
                return self.f.truncate(size)
            except OSError as exc:
                self.error = exc
        return self.tell() if size is None else size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            try:
                self.f.close()
            except OSError as exc:  # a delayed write error (e.g. NFS) surfaces at close
                self.error = self.error or exc
            super().close()


class GuardedH5:
    """``h5py.File`` ``file`` being written at ``path`` through a ``GuardedIO``; errors name ``shown`` (the artifact
    the temporary file becomes)."""

    def __init__(self, path: Path, shown: Path):
        self.shown = Path(shown)
        self.io = GuardedIO(Path(path))
        self.file = h5py.File(self.io, "w")

    def check(self) -> None:
        """Raise the first write error, as an OSError naming the artifact."""
        error = self.io.error
        if error is not None:
            raise OSError(error.errno, error.strerror or str(error), str(self.shown)) from None

    def close(self) -> None:
        """Finish the file; raises the first write error, if any (the caller then deletes the file)."""
        self.file.close()
        self.io.close()
        self.check()

    def abort(self) -> None:
        """Close without raising (after an error elsewhere); the caller deletes the file."""
        with contextlib.suppress(Exception):
            self.file.close()
        self.io.close()
