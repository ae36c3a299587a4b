"""Signals: SIGTERM (what job schedulers and ``kill`` send) stops posekit like Ctrl-C, in every process.

- the main process: ``install_signal_handlers`` makes SIGTERM raise ``Terminated`` (a KeyboardInterrupt), so the
  command unwinds as after Ctrl-C: checkpoints already written stay, temporary files are removed, locks are
  released, and the CLI prints one line and exits with 143;
- DataLoader workers (``dataloader_worker_init``): SIGTERM takes PyTorch's quiet Ctrl-C path (the worker loop
  catches KeyboardInterrupt and exits with status 0), so the main process does not report a worker "killed by
  signal" over the one-line message;
- converter pool workers (``pool_worker_init``): SIGINT and SIGTERM are ignored, since the main process stops the
  pool itself (it waits for the chunks in progress and sends every worker home).
"""

from __future__ import annotations

import signal

from posekit.errors import Terminated


def _terminate(signum, frame) -> None:
    raise Terminated()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt()


def install_signal_handlers() -> None:
    """For the main process of the CLI. SIGXFSZ stays ignored (CPython's default) so that a file-size limit makes
    writes fail with EFBIG instead of killing the process."""
    signal.signal(signal.SIGTERM, _terminate)
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def dataloader_worker_init(worker_id: int) -> None:
    """``worker_init_fn`` of posekit's DataLoaders."""
    signal.signal(signal.SIGTERM, _interrupt)


def pool_worker_init() -> None:
    """``initializer`` of posekit's process pools."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
