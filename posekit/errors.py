"""Errors that the CLI turns into one-line messages with a hint and an exit code.

Exit codes (documented in docs/cli.md):
  1  runtime failure (training diverged, I/O failure)
  2  usage or configuration error (unknown key, bad value, unknown name)
  3  a required input or workspace artifact is missing
  4  an input exists but is corrupt or invalid (bad HDF5, bad checkpoint)
  5  another posekit command is writing the same artifact (workspace lock)
130  interrupted by Ctrl-C (SIGINT); 143  stopped by SIGTERM (``Terminated``)
"""

from __future__ import annotations

import errno as _errno
from pathlib import Path


class PosekitError(Exception):
    """Base class: ``message`` says what went wrong, ``hint`` what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(PosekitError):
    exit_code = 2


class MissingArtifactError(PosekitError):
    exit_code = 3


class DataError(PosekitError):
    exit_code = 4


class CheckpointError(PosekitError):
    exit_code = 4


class WorkspaceBusy(PosekitError):
    exit_code = 5


class TrainingDiverged(PosekitError):
    exit_code = 1


# what to do about an OSError, by errno: the hint of every refused write (and of any other OSError the CLI reports)
OS_HINTS = {
    _errno.ENOSPC: "free disk space there and re-run the same command",
    _errno.EDQUOT: "free space within your disk quota and re-run the same command",
    _errno.EFBIG: "a file-size limit stopped the write (`ulimit -f`, or the filesystem's largest file); raise it and "
                  "re-run the same command",
    _errno.EACCES: "you may not write there: check the permissions of that path, or write somewhere else",
    _errno.EPERM: "you may not write there: check the permissions of that path, or write somewhere else",
    _errno.EROFS: "that filesystem is mounted read-only; write to a folder on a writable one",
    _errno.ENOTDIR: "a file stands where that path needs a folder; move it or choose another path",
    _errno.EISDIR: "a folder stands where that file should be written; move it or choose another path",
    _errno.ENAMETOOLONG: "choose a shorter path",
}


def os_hint(code: int | None) -> str:
    """The hint for an OSError of errno ``code``, with the way to see the traceback."""
    return (OS_HINTS[code] + "; " if code in OS_HINTS else "") + "--debug shows the traceback"


class WriteError(PosekitError, OSError):
    """A write the system refused (a full disk or quota, a file-size limit, permissions, a read-only filesystem, a
    file or folder in the way): one line naming the artifact and the cause, exit code 1. It is an ``OSError`` too,
    with the original ``errno`` and ``strerror``, so code that handles failed writes as OSError still does."""

    exit_code = 1

    def __init__(self, path: str | Path, exc: OSError):
        reason = exc.strerror or str(exc) or exc.__class__.__name__
        PosekitError.__init__(self, f"cannot write {path}: {reason}", hint=os_hint(exc.errno))
        self.errno, self.strerror, self.filename = exc.errno, exc.strerror or reason, str(path)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable across process pools, like any OSError
        return _rebuild_write_error, (self.filename, self.errno, self.strerror)


def _rebuild_write_error(path: str, code: int | None, strerror: str | None) -> WriteError:
    return WriteError(path, OSError(code, strerror))


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a job scheduler or ``kill``): handled like Ctrl-C, with exit code 143."""
