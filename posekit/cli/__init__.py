"""The ``posekit`` command line: one subcommand per pipeline stage, all working in one workspace."""

from __future__ import annotations

from typing import Annotated

import click
import typer
from typer.core import TyperGroup

from posekit.cli._common import State, fail, torchrun_guard, usage_error
from posekit.errors import ConfigError
from posekit.signals import install_signal_handlers
from posekit.version import __version__

# `posekit --help` lists the pipeline in the order it runs, then what reads its results, then the tools
PIPELINE_ORDER = ("prepare", "pretrain", "stylize", "adapt", "eval", "predict", "report", "export", "show", "list",
                  "config", "ckpt", "fetch-model")
USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")  # click's (typer vendors it)


class PosekitGroup(TyperGroup):
    """The command group: commands listed in pipeline order; ``--help`` shown without a type (it takes no value);
    a subcommand's usage error (an option value that does not parse, as ``--num abc``; an unknown option; a missing
    argument) is one ``error:`` line with exit code 2, as every other bad input."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return [n for n in PIPELINE_ORDER if n in names] + [n for n in names if n not in PIPELINE_ORDER]

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        return _untyped(super().get_help_option(ctx))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None and not isinstance(command, PosekitGroup):
            _untyped(command.get_help_option(ctx))
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USAGE_ERROR as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `posekit config` alone: its help, as before
                raise
            fail(usage_error(exc, ctx.invoked_subcommand))


def _untyped(option: click.Option | None) -> click.Option | None:
    if option is not None:
        option.metavar = ""
    return option


app = typer.Typer(
    cls=PosekitGroup,
    name="posekit",
    help="Unsupervised domain-adaptive pose estimation in one workspace: prepare → pretrain → stylize → adapt → eval, "
         "then predict and report. `posekit COMMAND --help` explains each stage.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"posekit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        str,
        typer.Option("--workspace", "-w", envvar="POSEKIT_WORKSPACE", help="workspace directory holding all artifacts"),
    ] = "posekit-ws",
    debug: Annotated[bool, typer.Option("--debug", help="show full tracebacks on errors", metavar="")] = False,
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit",
                                  metavar="")
    ] = None,
) -> None:
    if not workspace.strip():  # an empty -w would silently make the current directory the workspace
        fail(ConfigError("--workspace is empty", hint="pass --workspace/-w DIR (or set POSEKIT_WORKSPACE to a directory)"))
    State.workspace = workspace
    State.debug = debug
    torchrun_guard(ctx.invoked_subcommand)


from posekit.cli import adapt as _adapt  # noqa: F401
from posekit.cli import eval as _eval  # noqa: F401  (registers commands)
from posekit.cli import export as _export  # noqa: F401
from posekit.cli import predict as _predict  # noqa: F401
from posekit.cli import prepare as _prepare  # noqa: F401
from posekit.cli import pretrain as _pretrain  # noqa: F401
from posekit.cli import report as _report  # noqa: F401
from posekit.cli import show as _show  # noqa: F401
from posekit.cli import stylize as _stylize  # noqa: F401
from posekit.cli import tools as _tools  # noqa: F401


def main() -> None:
    install_signal_handlers()
    app()
