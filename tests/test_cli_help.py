"""Help texts: rich markup must not swallow literal brackets such as ``posekit[bodies]``."""

from __future__ import annotations

import re

import click
import pytest
import typer.main
from rich.errors import StyleSyntaxError
from rich.style import Style
from typer.testing import CliRunner

from posekit.cli import app

TAG = re.compile(r"(?<!\\)\[([^\[\]]*)\]")


def _commands(cmd: click.Command, path: tuple[str, ...] = ()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _texts(cmd: click.Command):
    yield "docstring", cmd.help or ""
    for p in cmd.params:
        yield p.name, getattr(p, "help", None) or ""


def test_every_bracket_in_help_is_a_style_or_escaped():
    bad = []
    for path, cmd in _commands(typer.main.get_command(app)):
        for where, text in _texts(cmd):
            for tag in TAG.findall(text):
                if tag.startswith("/"):
                    continue
                try:
                    Style.parse(tag)
                except StyleSyntaxError:
                    bad.append(f"posekit {' '.join(path)} {where}: [{tag}] would vanish; write \\\\[{tag}]")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("command, shown", [("prepare", "posekit[bodies]"), ("export", "posekit[export]"),
                                            ("predict", "posekit[detect-blazepose]")])
def test_extras_names_are_shown_in_help(command, shown):
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=400, env={"COLUMNS": "400"})
    assert result.exit_code == 0
    assert shown in result.output


def test_help_lists_the_pipeline_in_order():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    listed = re.findall(r"^│ ([a-z-]+) ", result.output.split("Commands")[1], flags=re.MULTILINE)
    assert listed[:9] == ["prepare", "pretrain", "stylize", "adapt", "eval", "predict", "report", "export", "show"]
    assert set(listed) == set(typer.main.get_command(app).commands)


@pytest.mark.parametrize("path", [p for p, _ in _commands(typer.main.get_command(app))], ids=" ".join)
def test_no_help_shows_a_bool_type(path):
    """A flag takes no value, so --help shows no ``<bool>`` beside it (nor beside --help itself)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and "<bool>" not in result.output, result.output


def test_prepare_help_shows_the_options_of_the_dataset_named():
    def options(*args):
        out = CliRunner().invoke(app, ["prepare", *args, "--help"], env={"COLUMNS": "200"}).output
        return set(re.findall(r"│ (--[a-z-]+)", out))

    synthetic, real, every = options("synthetic"), options("lspet"), options()
    assert {"--gap", "--body", "--config", "--set", "--size"} <= synthetic and not synthetic & {"--raw", "--limit"}
    assert {"--raw", "--limit", "--size"} <= real and not real & {"--gap", "--body", "--set"}
    assert synthetic | real == every
