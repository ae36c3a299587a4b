"""Shared CLI plumbing: global state, error rendering, signals, device choice."""

from __future__ import annotations

import functools
import os
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.text import Text

from posekit.engine.logging import console, labelled, results
from posekit.errors import ConfigError, PosekitError, Terminated, os_hint
from posekit.numbers import Bounds
from posekit.workspace import Workspace, discard_unstarted_runs, forget_created_runs

F = TypeVar("F", bound=Callable)

class State:
    workspace: str = os.environ.get("POSEKIT_WORKSPACE", "posekit-ws")
    debug: bool = False


def workspace() -> Workspace:
    return Workspace(State.workspace)


def fail(exc: PosekitError) -> None:
    """One line (plus a hint line) on stderr, then exit with the error's code. The texts are printed as they are:
    a file or key holding ``[x]`` or ``[/x]`` is shown, never read as a style."""
    console.print(labelled("error:", "bold red", exc.message), highlight=False, soft_wrap=True)
    if exc.hint:
        console.print(labelled("hint:", "yellow", exc.hint), highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def torchrun_guard(command: str | None) -> None:
    """Under torchrun (docs/performance.md) only rank 0 prints, and only the training commands run: any other
    command would have every process write the same artifacts."""
    if "LOCAL_RANK" not in os.environ:  # torchrun sets it (read here without importing torch)
        return
    console.quiet = results.quiet = os.environ.get("RANK", "0") != "0"
    if command not in ("pretrain", "adapt") and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        fail(ConfigError(f"`posekit {command}` does not run under torchrun; only pretrain and adapt do",
                         hint=f"run it as one process: posekit {command} ..."))


AMP_HELP = ("bf16 autocast of the network: auto (on CUDA, and on CPUs with bf16 units for ResNets and ViT-Tiny "
            "and wider; docs/performance.md), bf16 or off (float32)")


def check_amp(value: str) -> None:
    """Refuse an unknown ``--amp`` with a hint listing the choices."""
    if value not in ("auto", "bf16", "off"):
        raise ConfigError(f"unknown --amp {value!r}", hint="use auto, bf16 or off")


def check_device(name: str) -> None:
    """Refuse an unusable ``--device`` before any work, with a hint naming ``--device`` (the stage checks it again)."""
    from posekit.engine.device import pick_device

    pick_device(name, option="--device")


def out_of_memory(exc: BaseException, command: str) -> PosekitError | None:
    """A PosekitError for an allocation failure (host or GPU), None for any other exception."""
    import sys

    torch = sys.modules.get("torch")
    # oneDNN (CPU convolutions, bf16 or float32) reports a failed allocation as "could not create a primitive"
    oom = isinstance(exc, MemoryError) or (torch is not None and isinstance(exc, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("out of memory", "can't allocate memory",
                                                                      "could not create a primitive")))
    if not oom:
        return None
    first = str(exc).splitlines()[0][:160] if str(exc) else exc.__class__.__name__
    if command in ("pretrain", "adapt"):
        hint = "lower train.batch_size or data.input_size (--set train.batch_size=N), or use a smaller model"
    else:
        hint = "lower --batch-size" if command in ("eval", "predict", "report", "stylize") else "free memory and retry"
    return PosekitError(f"out of memory ({first})", hint=hint)


def option_bounds(fn: Callable) -> dict[str, tuple[str, Bounds]]:
    """``{parameter: (flag, bounds)}`` of a command function's numeric options: each declared as
    ``Annotated[int, typer.Option(...), Bounds(...)]``."""
    found = {}
    for name, hint in typing.get_type_hints(fn, include_extras=True).items():
        if typing.get_origin(hint) is not Annotated:
            continue
        meta = hint.__metadata__
        bounds = [m for m in meta if isinstance(m, Bounds)]
        if bounds:
            decls = [d for m in meta for d in (getattr(m, "param_decls", None) or ()) if d.startswith("--")]
            found[name] = (decls[0] if decls else "--" + name.rstrip("_").replace("_", "-"), bounds[0])
    return found


def check_options(bounds: dict[str, tuple[str, Bounds]], values: dict[str, Any]) -> None:
    """Every bounded option's value (each element of a tuple option) through :func:`posekit.numbers.check_number`;
    None (an option left out) passes."""
    for name, (flag, bound) in bounds.items():
        value = values.get(name)
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if item is not None:
                bound.check(item, flag)


def handle_errors(fn: F) -> F:
    """Turn PosekitError, OSError and out-of-memory errors into a short message and exit code, and Ctrl-C/SIGTERM
    into 130/143; ``--debug`` shows the traceback. A run directory this command created but that holds no checkpoint
    yet is removed when it fails with an error (an interrupted one stays: ``--resume`` restarts it from step 0).
    Before the command runs, its numeric options are checked against their :class:`~posekit.numbers.Bounds`."""
    bounds: list[dict[str, tuple[str, Bounds]]] = []  # read on the first call (the annotations name later imports)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        forget_created_runs()
        try:
            if not bounds:
                bounds.append(option_bounds(fn))
            check_options(bounds[0], kwargs)
            return fn(*args, **kwargs)
        except PosekitError as exc:
            discard_unstarted_runs()
            if State.debug:
                raise
            fail(exc)
        except KeyboardInterrupt as exc:
            what, code = ("terminated (SIGTERM)", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
            console.print(Text.assemble((what, "bold red"), "; completed artifacts are intact (a training run "
                                        "continues from its ckpt/last.pt with --resume)"), highlight=False)
            raise typer.Exit(code)
        except OSError as exc:
            discard_unstarted_runs()
            if State.debug:
                raise
            where = f" ({exc.filename}{f' → {exc.filename2}' if exc.filename2 else ''})" if exc.filename else ""
            fail(PosekitError(f"{exc.strerror or exc}{where}", hint=os_hint(exc.errno)))
        except (MemoryError, RuntimeError) as exc:
            error = out_of_memory(exc, fn.__name__.rstrip("_"))
            if error is None:
                raise
            discard_unstarted_runs()
            if State.debug:
                raise
            fail(error)

    return wrapper  # type: ignore[return-value]


def usage_error(exc: Exception, command: str | None) -> PosekitError:
    """A click usage error (an option's value that does not parse, an unknown option, a missing argument) as the
    one-line ConfigError every other bad input gives."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return ConfigError(" ".join(message.split()), hint=f"posekit {command or ''} --help lists the options".replace("  ", " "))
