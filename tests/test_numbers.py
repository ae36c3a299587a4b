"""One validator for the numbers users give (posekit.numbers): every numeric option of every command, generated from
the command line's own parameters, fed NaN, infinities, a huge number, -1, 0 and a word; the API's parameters; and
the configuration's cross-field rule of regda."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

from posekit.cli import app
from posekit.cli._common import option_bounds
from posekit.errors import ConfigError, PosekitError
from posekit.numbers import Bounds, check_number, parse_number

runner = CliRunner()

VALUES = ("nan", "inf", "-inf", "1e300", "-1", "0", "abc")
ALWAYS_BAD = {"nan", "inf", "-inf", "1e300", "abc"}  # no numeric option may accept these

# numeric options checked by something other than Bounds, each with the reason
UNBOUNDED = {
    ("pretrain", "steps"): "sets train.steps, which the configuration schema bounds (ge=1) and names",
    ("adapt", "steps"): "sets train.steps, which the configuration schema bounds (ge=1) and names",
}


def arguments(command: str, tmp: Path) -> list[str]:
    """The fewest arguments that get ``command`` past parsing, chosen so that a run that gets further fails before
    writing anything (a missing workspace, an unknown codec, a missing image)."""
    return {
        "prepare": ["synthetic", "--codec", "none-such"],
        "predict": [str(tmp / "missing.png"), "-c", "pretrain/latest", "--out", str(tmp / "out")],
        "show": ["synth_src:train", "--out", str(tmp / "sheet.png")],
        "export": ["latest", "--out", str(tmp / "out")],
        "list": ["datasets"],
        "fetch-model": ["none-such"],
        "ckpt inspect": [str(tmp / "missing.pt")],
    }.get(command, [])


def numeric(annotation) -> bool:
    """int or float, optional or not, or a tuple of them."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if typing.get_origin(annotation) is tuple:
        return all(numeric(a) for a in typing.get_args(annotation))
    return len(args) == 1 and args[0] in (int, float) or (typing.get_origin(args[0]) is tuple and numeric(args[0]))


def numeric_options() -> list[tuple[str, str, str, int, Bounds | None]]:
    """(command, parameter, flag, nargs, bounds) of every numeric option of every command (sub-apps included),
    from the click command the CLI runs."""
    found = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, path + (name,))
            return
        fn = inspect.unwrap(cmd.callback)
        hints = typing.get_type_hints(fn, include_extras=True)
        bounds = option_bounds(fn)
        for param in cmd.params:
            if param.param_type_name == "option" and numeric(hints[param.name]):
                flag = next(o for o in param.opts if o.startswith("--"))
                found.append((" ".join(path), param.name, flag, param.nargs, bounds.get(param.name, (None, None))[1]))

    walk(typer.main.get_command(app), ())
    return found


OPTIONS = numeric_options()
CASES = [(c, flag, nargs, v) for c, _, flag, nargs, _ in OPTIONS for v in VALUES]


def test_the_walk_finds_the_numeric_options():
    flags = {(c, f) for c, _, f, _, _ in OPTIONS}
    assert {("show", "--cell"), ("show", "--num"), ("predict", "--margin"), ("predict", "--min-score"),
            ("prepare", "--gap"), ("stylize", "--alpha"), ("eval", "--batch-size")} <= flags
    assert len(CASES) == len(OPTIONS) * len(VALUES) and len(OPTIONS) >= 30


def test_every_numeric_option_is_bounded():
    """A new numeric option must declare its Bounds (or say here what else checks it)."""
    loose = [(c, p) for c, p, _, _, b in OPTIONS if b is None and (c, p) not in UNBOUNDED]
    assert not loose, f"numeric options without posekit.numbers.Bounds: {loose}"
    for c, p, flag, _, b in OPTIONS:
        if b is not None:
            assert b.lo is not None and b.hi is not None, f"{c} {flag}: give both bounds (a documented maximum)"


@pytest.mark.parametrize("command, flag, nargs, value", CASES, ids=[f"{c}{f}={v}" for c, f, _, v in CASES])
def test_a_bad_number_is_one_line_and_writes_nothing(tmp_path, monkeypatch, command, flag, nargs, value):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    ws = tmp_path / "ws"
    given = ["0.5"] * (nargs - 1) + [value]
    result = runner.invoke(app, ["-w", str(ws), *command.split(), *arguments(command, tmp_path), flag, *given])
    output = result.output
    assert "Traceback" not in output and (result.exception is None or isinstance(result.exception, SystemExit)), output
    assert result.exit_code != 0, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    if value in ALWAYS_BAD:  # refused by the number check itself, not by a later rule that happens to name the flag
        assert result.exit_code == 2 and flag in errors[0], output
        assert "must be" in errors[0] or "Invalid value" in errors[0], output
    elif flag in errors[0]:
        assert result.exit_code == 2, output
    assert not ws.exists() and not any(cwd.iterdir()), "a rejected command wrote files"
    assert not (tmp_path / "out").exists() and not (tmp_path / "sheet.png").exists()


def test_the_known_defects_name_their_option(tmp_path):
    ws = str(tmp_path / "ws")
    for args, fragment in [
        (["prepare", "synthetic", "--pose-families", "running=nan"], "weight must be a finite number, got nan"),
        (["prepare", "synthetic", "--pose-families", "running=inf"], "weight must be a finite number, got inf"),
        (["prepare", "synthetic", "--pose-families", "running=1e308"], "weight must be ≤ 1e+06, got 1e+308"),
        (["predict", "a.png", "-c", "x", "--box", "1,1,5,5", "--margin", "1e300"], "--margin must be ≤ 100"),
        (["predict", "a.png", "-c", "x", "--boxes", "b.json", "--min-score", "nan"], "--min-score must be a finite"),
        (["show", "synth_src:train", "--cell", "100000", "--num", "2"], "--cell must be ≤ 2048, got 100000"),
        (["show", "synth_src:train", "--cell", "2048", "--num", "200"], "GiB of pixels"),
    ]:
        result = runner.invoke(app, ["-w", ws, *args])
        assert result.exit_code == 2 and fragment in result.output, (args, result.output)
        assert "Traceback" not in result.output and not Path(ws).exists()


def test_a_usage_error_is_one_line(tmp_path):
    result = runner.invoke(app, ["-w", str(tmp_path / "ws"), "show", "x:y", "--num", "abc"])
    assert result.exit_code == 2 and result.output.startswith("error: Invalid value for '--num'"), result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 2  # error + hint


def test_check_number():
    assert check_number(3, "n", lo=1, hi=5, integer=True) == 3
    assert check_number(np.float32(0.5), "x", lo=0, hi=1) == 0.5
    assert check_number(10**400, "n", lo=0, integer=True) == 10**400  # compared exactly, no float overflow
    for value, bounds, message in [
        (float("nan"), {}, "x must be a finite number, got nan"),
        (float("-inf"), {}, "x must be a finite number, got -inf"),
        (True, {}, "x must be a number, got True"),
        ("1", {}, "x must be a number, got '1'"),
        (2.0, {"integer": True}, "x must be an integer, got 2"),
        (0, {"lo": 0, "lo_open": True}, "x must be > 0, got 0"),
        (1e300, {"hi": 100}, "x must be ≤ 100, got 1e+300"),
        (10**400, {"hi": 5, "integer": True}, "x must be ≤ 5, got 1000"),
    ]:
        with pytest.raises(ConfigError) as info:
            check_number(value, "x", **bounds)
        assert info.value.message.startswith(message), info.value.message
    with pytest.raises(ConfigError, match="must be a number, got 'abc'"):
        parse_number("abc", "x")
    assert Bounds(1, 4096, integer=True).describe() == "an integer in [1, 4096]"


def test_api_parameters_go_through_the_same_check(trained):
    import posekit
    from posekit.data.boxes import Detection

    for ref in (None, 42, ""):
        with pytest.raises(ConfigError, match="load: expected a checkpoint"):
            posekit.load(ref)
    for args in [("abc", 0.5), ((0, 0, 1), 0.5), ((0, 0, float("nan"), 1), 0.5), ((0, 0, 1, 1), float("nan")),
                 ((0, 0, 1, 1), "high")]:
        with pytest.raises(ConfigError, match="Detection"):
            Detection(*args)
    with pytest.raises(ConfigError, match="category_id must be an integer"):
        Detection((0, 0, 1, 1), 0.5, 1.5)
    predictor = posekit.load(trained / "runs/pretrain/latest", device="cpu", amp="off")
    image = np.zeros((40, 30, 3), np.uint8)
    for kwargs, fragment in [({"margin": float("nan")}, "margin must be a finite number"),
                             ({"margin": 1e300}, "margin must be ≤ 100"),
                             ({"batch_size": 0}, "batch_size must be ≥ 1"),
                             ({"batch_size": 2.5}, "batch_size must be an integer"),
                             ({"flip": "no"}, "flip must be True or False, got 'no'")]:
        with pytest.raises(ConfigError, match=fragment):
            predictor.predict(image, **kwargs)
    for images in (5, None, 2.5):
        with pytest.raises(ConfigError, match="images: expected"):
            predictor.predict(images)
    for empty in (np.zeros((0, 0, 3), np.uint8), np.zeros((0, 7, 3), np.uint8)):
        with pytest.raises(ConfigError, match="has no pixels"):
            predictor.predict(empty)
    with pytest.raises(PosekitError):
        predictor.predict("abc-not-a-file.png")
    assert len(predictor.predict(image, flip=np.bool_(True)).people) == 1


def test_regda_gradient_lo_above_hi_is_refused():
    result = runner.invoke(app, ["config", "show", "adapt", "--method", "regda", "--set", "regda.gradient_lo=0.5",
                                 "--set", "regda.gradient_hi=0.1"])
    assert result.exit_code == 2 and "gradient_lo (0.5) must be ≤ gradient_hi (0.1)" in result.output, result.output
    assert "Traceback" not in result.output
