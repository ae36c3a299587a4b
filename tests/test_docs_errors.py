"""docs/errors.md and docs/cli.md, checked mechanically against the code: every hint names options and config keys
that exist (for the command it is about), the table is the current suite's, and both documents give the same exit
codes as posekit/errors.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from posekit import errors
from posekit.cli import app
from posekit.config.load import config_keys
from posekit.stages.template import METHODS

DOCS = Path(__file__).resolve().parents[1] / "docs"
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])\b")
COMMAND = re.compile(r"posekit ((?:config|ckpt) [a-z]+|[a-z]+)")


def table_rows() -> list[dict]:
    """The rows of docs/errors.md's table: number, name, command, exit code, error and hint text."""
    rows = []
    for line in (DOCS / "errors.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 5 and cells[0].isdigit():
            shown = cells[4].replace("\\|", "|").split("<br>")
            rows.append({"n": int(cells[0]), "name": cells[1], "command": cells[2].strip("`").removeprefix("posekit "),
                         "exit": int(cells[3]), "error": shown[0], "hint": shown[1] if len(shown) > 1 else ""})
    return rows


def options_of(command: str) -> set[str]:
    """Every option a `posekit COMMAND` takes (with the global ones), from the Typer app itself."""
    group = typer.main.get_command(app)
    found = {o for p in group.params for o in p.opts}
    node = group
    for part in command.split():
        node = node.commands[part]
        found |= {o for p in node.params for o in getattr(p, "opts", []) if o.startswith("-")}
    return found


import posekit.stages  # noqa: F401  (registers every method)

KEYS = {k for registry in METHODS.values() for m in registry.names() for k in config_keys(registry.get(m).config)}
SECTIONS = {k.split(".")[0] for k in KEYS if "." in k}
KEY = re.compile(rf"\b((?:{'|'.join(sorted(SECTIONS))})\.[a-z_]+)\b")


def named_options(row: dict) -> list[tuple[str, str]]:
    """``(command, flag)`` for each option the hint names: a flag inside a quoted `posekit CMD …` belongs to CMD,
    any other to the row's command. (Other text quoted in backticks, such as a layout, names no option.)"""
    found = []
    for quoted in re.findall(r"`([^`]*)`", row["hint"]):
        command = COMMAND.search(quoted)
        if command:
            found += [(command.group(1), f) for f in FLAG.findall(quoted[command.end():])]
    bare = re.sub(r"`[^`]*`", " ", row["hint"])
    found += [(row["command"], f) for f in FLAG.findall(bare)]
    return found


ROWS = table_rows()


def test_the_table_is_the_suites():
    from tests.test_bad_inputs import CASES

    assert [r["name"] for r in ROWS] == [c[0] for c in CASES], "regenerate it: python -m tests.test_bad_inputs"
    assert [r["exit"] for r in ROWS] == [c[2] for c in CASES]
    for row, (name, _, code, fragment) in zip(ROWS, CASES):
        assert fragment.replace("|", "\\|") in row["error"].replace("\\|", "|") or fragment in row["error"], name


@pytest.mark.parametrize("row", ROWS, ids=[r["name"] for r in ROWS])
def test_every_hint_names_options_and_keys_that_exist(row):
    for command, flag in named_options(row):
        assert flag in options_of(command), f"#{row['n']}: `posekit {command}` has no option {flag}: {row['hint']}"
    for key in KEY.findall(row["hint"]):
        assert key in KEYS, f"#{row['n']}: no config key {key}: {row['hint']}"


def test_the_hint_checker_catches_an_option_that_does_not_exist():
    """The check above is not vacuous: the hints issue 21 found wrong are refused."""
    bad = [({"command": "report", "hint": "this run has last; pass --checkpoint last"}, "--checkpoint"),
           ({"command": "eval", "hint": "use --set train.device=cpu"}, "--set"),
           ({"command": "pretrain", "hint": "run `posekit eval --resume x`"}, "--resume")]
    for row, flag in bad:
        assert any(f == flag and f not in options_of(c) for c, f in named_options(row)), row
    assert "train.device" in KEYS and "optim.lr" in KEYS and "train.lr" not in KEYS


def documented_codes(path: Path) -> set[int]:
    """The codes of the exit-code table in a document (rows ``| N | meaning | … |``)."""
    text = path.read_text()
    table = text[text.index("| code |"):].split("\n\n")[0]
    return {int(m) for m in re.findall(r"^\| (\d+) +\|", table, flags=re.MULTILINE)}


def test_errors_md_and_cli_md_agree_on_every_exit_code():
    codes = documented_codes(DOCS / "cli.md")
    assert documented_codes(DOCS / "errors.md") == codes
    used = {r["exit"] for r in ROWS}
    assert used <= codes, used - codes
    classes = {cls.exit_code for cls in vars(errors).values() if isinstance(cls, type) and
               issubclass(cls, errors.PosekitError)}
    assert classes | {0, 130, 143} == codes
    module_doc = {int(c) for c in re.findall(r"^ *(\d+) ", errors.__doc__, flags=re.MULTILINE)} | \
        {int(c) for c in re.findall(r"; (\d+) ", errors.__doc__)}
    assert module_doc | {0} == codes


def test_the_documents_count_the_cases():
    from tests.test_bad_inputs import CASES

    assert f"{len(CASES)} cases across every command" in (DOCS / "cli.md").read_text()
