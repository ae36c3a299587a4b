"""Issue 31: runs found by the name they were given, hints built from what a run or file is, and eval results that
never replace each other or land outside the workspace."""

from __future__ import annotations

import json
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from posekit.cli import app
from posekit.errors import ConfigError, MissingArtifactError
from posekit.workspace import Workspace
from tests.conftest import TINY_TRAIN

runner = CliRunner()


def invoke(ws, *args):
    return runner.invoke(app, ["-w", str(ws), *args])


def lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def named_ws(tiny_ws, tmp_path_factory) -> Path:
    """The tiny workspace with a finished 2-step pretrain run named m0 (train.select=last: no best.pt)."""
    ws = tmp_path_factory.mktemp("named") / "ws"
    shutil.copytree(tiny_ws, ws)
    result = invoke(ws, "pretrain", *TINY_TRAIN, "--set", "train.steps=2", "--name", "m0")
    assert result.exit_code == 0, result.output
    return ws


@pytest.fixture
def ws(named_ws, tmp_path) -> Path:
    dst = tmp_path / "ws"
    shutil.copytree(named_ws, dst)
    return dst


def save_png(folder: Path) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(folder / "person.png")
    return folder / "person.png"


def m0(ws: Path) -> Path:
    (run,) = (ws / "runs/pretrain").glob("*-m0")
    return run


# -- 1. runs found by the name the user gave them --------------------------------------------------------------------
def test_stage_slash_name_resolves_the_run_of_that_name(named_ws):
    w = Workspace(named_ws)
    run = m0(named_ws)
    assert w.resolve_run("pretrain/m0") == run
    assert w.resolve_run(f"pretrain/{run.name}") == run  # exact ids still work
    assert w.resolve_run("pretrain/latest") == run and w.resolve_run("latest") == run
    assert w.resolve_checkpoint("pretrain/m0", "final") == run / "ckpt/final.pt"
    assert w.resolve_resumable("pretrain", "m0") == run
    assert w.resolve_resumable("pretrain", "pretrain/m0") == run
    with pytest.raises(MissingArtifactError, match="no run 'adapt/m0'"):
        w.resolve_run("adapt/m0")


def test_an_ambiguous_name_lists_the_candidates(ws):
    run = m0(ws)
    other = run.with_name("20200101-000000-m0")
    same_second = run.with_name(run.name + "-2")
    shutil.copytree(run, other)
    shutil.copytree(run, same_second)
    with pytest.raises(ConfigError) as info:
        Workspace(ws).resolve_run("pretrain/m0")
    assert info.value.message == "'pretrain/m0' names 3 pretrain runs"
    assert info.value.hint == (f"pass one by its id: pretrain/{other.name}, pretrain/{run.name}, "
                               f"pretrain/{same_second.name}")
    assert Workspace(ws).resolve_run(f"pretrain/{run.name}") == run  # the exact id wins over the name


def test_commands_take_stage_slash_name(ws, tmp_path):
    result = invoke(ws, "eval", "pretrain/m0", "--data", "synth_tgt:test")
    assert result.exit_code == 0, result.output
    assert (m0(ws) / "eval/synth_tgt-test.json").is_file()
    result = invoke(ws, "export", "pretrain/m0", "--format", "torchscript", "-o", str(tmp_path / "exp"))
    assert result.exit_code == 0, result.output
    result = invoke(ws, "adapt", "--init", "pretrain/m0", "--set", "data.num_workers=0", "--set",
                    "train.batch_size=8", "--set", "style.enabled=false", "--steps", "1", "--name", "a0")
    assert result.exit_code == 0, result.output
    lineage = json.loads(next((ws / "runs/adapt").glob("*-a0/lineage.json")).read_text())
    assert m0(ws).name in json.dumps(lineage)


# -- 2. hints derived from state ---------------------------------------------------------------------------------------
def test_best_of_a_finished_run_selected_on_its_last_step_says_so(ws):
    result = invoke(ws, "eval", "pretrain/m0", "--checkpoint", "best", "--data", "synth_tgt:test")
    out = lines(result)
    assert result.exit_code == 3 and len(out) == 2, result.output
    assert out[0] == (f"error: {m0(ws) / 'ckpt/best.pt'} does not exist: the run is finished and selected its last "
                      "weights (train.select=last)")
    assert out[1] == "hint: its final.pt holds them (the same weights as last.pt); use --checkpoint final"
    assert "--resume" not in result.output


@pytest.mark.parametrize("make, expected", [
    (lambda ws, tmp: tmp / "plain", "pass a run directory (runs/STAGE/RUN_ID)"),
    (lambda ws, tmp: ws, "it is a workspace; pass one of its runs"),
    (lambda ws, tmp: ws / "runs/pretrain", "it holds runs; pass one of them"),
], ids=["a folder", "the workspace", "a stage folder"])
def test_a_folder_that_is_not_a_run(ws, tmp_path, make, expected):
    folder = make(ws, tmp_path)
    folder.mkdir(exist_ok=True)
    for args in (["eval", str(folder), "--data", "synth_tgt:test"], ["report", str(folder)],
                 ["predict", str(save_png(tmp_path / "in")), "-c", str(folder), "-o", str(tmp_path / "out")],
                 ["pretrain", "--resume", str(folder)]):
        result = invoke(ws, *args)
        out = lines(result)
        assert result.exit_code == 3 and len(out) == 2, (args, result.output)
        assert out[0] == f"error: {folder} is not a posekit run (no config.yaml, no ckpt/)", args
        assert expected in out[1] and "--resume" not in out[1], (args, out[1])


def test_a_torchscript_export_given_as_a_checkpoint_says_what_it_is(ws, tmp_path):
    out = tmp_path / "exp"
    assert invoke(ws, "export", "pretrain/m0", "--format", "torchscript", "-o", str(out)).exit_code == 0
    model = out / "model.pt"
    source = m0(ws) / "ckpt/final.pt"
    bare = tmp_path / "bare.pt"  # the same archive without the export's JSON beside it
    shutil.copy(model, bare)
    cases = [(model, f"it was exported from {source}: pass that checkpoint or its run"),
             (bare, "pass the run it was exported from, or its ckpt/*.pt (e.g. RUN/ckpt/final.pt)")]
    for path, hint in cases:
        for args in (["eval", "--checkpoint", str(path), "--data", "synth_tgt:test"],
                     ["predict", str(save_png(tmp_path / "in")), "-c", str(path), "-o", str(tmp_path / "o")],
                     ["ckpt", "inspect", str(path)]):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = invoke(ws, *args)
            out_lines = lines(result)
            assert result.exit_code == 4 and len(out_lines) == 2, (args, result.output)
            assert out_lines == [f"error: {path}: this is a TorchScript export, not a checkpoint", f"hint: {hint}"]
            assert not [w for w in caught if "TorchScript" in str(w.message)], [str(w.message) for w in caught]


def test_files_that_are_not_checkpoints_are_named_for_what_they_are(ws, tmp_path):
    foreign = tmp_path / "weights.zip"
    with zipfile.ZipFile(foreign, "w") as archive:
        archive.writestr("weights/readme.txt", "not torch")
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07\x12\x07pytorch")
    (tmp_path / "empty.pt").write_bytes(b"")
    cases = [(foreign, "not a readable checkpoint (a zip archive that torch.save did not write)",
              "pass a .pt file written by posekit pretrain/adapt (e.g. RUN/ckpt/final.pt)"),
             (tmp_path / "model.onnx", "this is an ONNX export, not a checkpoint", "pass the run it was exported from"),
             (tmp_path / "empty.pt", "not a readable checkpoint (empty file, 0 bytes)", "pass a .pt file written by")]
    for path, error, hint in cases:
        result = invoke(ws, "eval", "--checkpoint", str(path), "--data", "synth_tgt:test")
        out_lines = lines(result)
        assert result.exit_code == 4 and len(out_lines) == 2, result.output
        assert out_lines[0] == f"error: {path}: {error}" and out_lines[1].startswith(f"hint: {hint}"), out_lines


def test_an_empty_last_checkpoint(ws):
    """Under --resume of an unfinished run: delete it and resume from step 0; of a finished run: final.pt holds the
    weights."""
    run = m0(ws)
    (run / "ckpt/last.pt").write_bytes(b"")
    result = invoke(ws, "eval", "pretrain/m0", "--checkpoint", "last", "--data", "synth_tgt:test")
    assert result.exit_code == 4 and lines(result) == [
        f"error: {run}/ckpt/last.pt: not a readable checkpoint (empty file, 0 bytes)",
        ("hint: a copy or write was cut short; the run is finished: its ckpt/final.pt holds the selected weights "
        "(eval, predict and export read it)")], result.output
    (run / "ckpt/final.pt").unlink()
    result = invoke(ws, "pretrain", "--resume", "pretrain/m0")
    assert result.exit_code == 4 and lines(result) == [
        f"error: {run}/ckpt/last.pt: not a readable checkpoint (empty file, 0 bytes)",
        (f"hint: a copy or write was cut short; delete it and `posekit pretrain --resume pretrain/{run.name}` "
        "restarts the run from step 0, or re-run the stage")], result.output


# -- 3. eval results never collide or leave the workspace --------------------------------------------------------------
def test_eval_results_are_named_by_the_checkpoint_they_score(ws, tmp_path, monkeypatch):
    run = m0(ws)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    a, b = folder / "A.pt", folder / "B.pt"
    shutil.copy(run / "ckpt/final.pt", a)
    ckpt = torch.load(run / "ckpt/last.pt", weights_only=True)
    ckpt["step"] = 1  # B differs from A
    torch.save(ckpt, b)
    monkeypatch.chdir(folder)
    written = {}
    for path in (a, b, run / "ckpt/last.pt", run / "ckpt/final.pt"):
        result = invoke(ws, "eval", "--checkpoint", path.name if path.parent == folder else str(path),
                        "--data", "synth_tgt:test")
        assert result.exit_code == 0, result.output
        written[path.name] = [Path(p) for line in result.stdout.splitlines() if line.startswith("JSON: ")
                              for p in line[6:].split(", ")]
        assert ("is not in a run of this workspace" in result.stderr) == (path.parent == folder), result.stderr
    assert not (folder / "eval").exists()  # nothing beside the checkpoints, outside the workspace
    (ja,), (jb,) = written["A.pt"], written["B.pt"]
    assert ja.parent.parent == ws / "eval/external" and ja.parent.name.startswith("A-") and ja.name == "synth_tgt-test.json"
    assert jb.parent.name.startswith("B-") and ja != jb
    assert json.loads(ja.read_text())["checkpoint"] == str(a) and json.loads(jb.read_text())["step"] == 1
    assert written["last.pt"] == [run / "eval/synth_tgt-test-last.json"]
    assert written["final.pt"] == [run / "eval/synth_tgt-test.json"]  # the run's own name is kept
    assert json.loads(written["last.pt"][0].read_text())["checkpoint"].endswith("ckpt/last.pt")
    result = invoke(ws, "eval", "pretrain/m0", "--data", "synth_tgt:test", "--amp", "off")
    assert result.exit_code == 0 and (run / "eval/synth_tgt-test-amp-off.json").is_file()
