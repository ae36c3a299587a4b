"""Shared CLI plumbing: global state, error rendering, device choice."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.markup import escape

from posekit.engine.logging import console
from posekit.errors import ConfigError, PosekitError
from posekit.workspace import Workspace

F = TypeVar("F", bound=Callable)


class State:
    workspace: Path = Path(os.environ.get("POSEKIT_WORKSPACE", "posekit-ws"))
    debug: bool = False


def workspace() -> Workspace:
    return Workspace(State.workspace)


def fail(exc: PosekitError) -> None:
    """One line (plus a hint line) on stderr, then exit with the error's code. The texts are printed as they are:
    brackets (``posekit[weights]``, ``[x, y, w, h]``) are not console markup."""
    console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
    if exc.hint:
        console.print(f"[yellow]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def torchrun_guard(command: str | None) -> None:
    """Under torchrun (docs/performance.md) only rank 0 prints, and only the training commands run: any other
    command would have every process write the same artifacts."""
    if "LOCAL_RANK" not in os.environ:  # torchrun sets it (read here without importing torch)
        return
    console.quiet = os.environ.get("RANK", "0") != "0"
    if command not in ("pretrain", "adapt") and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        fail(ConfigError(f"`posekit {command}` does not run under torchrun; only pretrain and adapt do",
                         hint=f"run it as one process: posekit {command} ..."))


def handle_errors(fn: F) -> F:
    """Turn PosekitError (and Ctrl-C) into a short message and exit code; ``--debug`` shows the traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PosekitError as exc:
            if State.debug:
                raise
            fail(exc)
        except KeyboardInterrupt:
            console.print("[bold red]interrupted[/]; completed artifacts are intact (see the run's ckpt/last.pt)")
            raise typer.Exit(130)
        except OSError as exc:
            if State.debug:
                raise
            console.print(f"[bold red]error:[/] {exc.strerror or exc} ({exc.filename or ''})", highlight=False)
            console.print("[yellow]hint:[/] check free disk space and permissions; --debug shows the traceback")
            raise typer.Exit(1)

    return wrapper  # type: ignore[return-value]
