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


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (a job scheduler or ``kill``): handled like Ctrl-C, with exit code 143."""
