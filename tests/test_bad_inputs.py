"""The bad-input suite: malformed inputs across every command. Each must give exactly one ``error:`` line (plus at
most a ``hint:`` line), its documented exit code (docs/cli.md), no traceback, and leave nothing half-written: no
temporary file and no new run directory. (Converter-specific raw-tree errors are also covered in
test_converters.py.)"""

from __future__ import annotations

import errno
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import torch
from typer.testing import CliRunner

from posekit.cli import app
from tests.conftest import TINY_TRAIN
from tests.test_converters import lsp_tree

runner = CliRunner()


@pytest.fixture(scope="module")
def base_ws(tiny_ws, tmp_path_factory) -> Path:
    return build_base_ws(tiny_ws, tmp_path_factory.mktemp("bad") / "ws")


def build_base_ws(tiny_ws: Path, ws: Path) -> Path:
    """The tiny workspace with a 2-step pretrain run, a colour style cache and a tiny quadruped dataset."""
    shutil.copytree(tiny_ws, ws)
    for args in (["pretrain", *TINY_TRAIN, "--set", "train.steps=2"], ["stylize", "--method", "colour"],
                 ["prepare", "synthetic", "--skeleton", "quadruped", "--name", "quad", "--size", "64",
                  "--num-train", "16", "--num-val", "0", "--num-test", "8", "--workers", "1"]):
        result = runner.invoke(app, ["-w", str(ws), *args])
        assert result.exit_code == 0, result.output
    return ws


def ckpt_path(ws: Path) -> Path:
    return next((ws / "runs/pretrain").glob("*/ckpt/final.pt"))


def edit_h5(path: Path, name: str, fn: Callable[[np.ndarray], np.ndarray]) -> None:
    with h5py.File(path, "r+") as f:
        f[name][...] = fn(f[name][...])


def empty_split(ws: Path) -> list[str]:
    path = ws / "data/synth_src/train.h5"
    with h5py.File(path, "r+") as f:
        for name in f:
            f[name].resize(0, axis=0)
    return ["pretrain", *TINY_TRAIN]


def other_architecture(ws: Path) -> list[str]:
    path = ckpt_path(ws)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["backbone"] = "resnet34"  # the header says ResNet-34, the weights are ResNet-18
    torch.save(ckpt, path)
    return ["eval", "pretrain/latest", "--data", "synth_tgt:test"]


def adapt_checkpoint_as_init(ws: Path) -> list[str]:
    path = ckpt_path(ws)
    ckpt = torch.load(path, weights_only=True)
    ckpt["stage"], ckpt["method"] = "adapt", "multilevel"
    torch.save(ckpt, path)
    return ["adapt", "--set", "data.num_workers=0", "--steps", "1"]


def pickled_checkpoint(ws: Path) -> list[str]:
    path = ws / "evil.pt"
    torch.save({"format": "posekit.ckpt", "obj": Path("x")}, path)
    return ["ckpt", "inspect", str(path)]


def raw_lspet(tmp: Path, edit: Callable[[Path, np.ndarray], None]) -> Path:
    raw = tmp / "lspet"
    joints = lsp_tree(raw, "lspet", [(40, 40)] * 3)
    edit(raw, joints)
    return raw


def lspet_nan(raw: Path, joints: np.ndarray) -> None:
    bad = joints.transpose(1, 2, 0).copy()
    bad[2, 0, 1] = np.inf
    scipy.io.savemat(raw / "joints.mat", {"joints": bad})


def full_disk_during(target: str) -> Callable:
    def setup(ws: Path, monkeypatch) -> None:
        def no_space(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(ws))
        monkeypatch.setattr(target, no_space)
    return setup


# (id, setup(ws, tmp) → args, expected exit code, fragment of the error line)
CASES: list[tuple[str, Callable, int, str]] = [
    ("unknown dataset name", lambda ws, tmp: ["prepare", "lsp_extended"], 2, "unknown dataset 'lsp_extended'"),
    ("synthetic gap out of range", lambda ws, tmp: ["prepare", "synthetic", "--gap", "2"], 2, "--gap 2.0 is outside"),
    ("synthetic pose spread not positive", lambda ws, tmp: ["prepare", "synthetic", "--pose-spread", "0"], 2,
     "--pose-spread 0.0 must be > 0"),
    ("synthetic roll out of range", lambda ws, tmp: ["prepare", "synthetic", "--roll", "270"], 2, "--roll 270.0 is outside"),
    ("synthetic unknown shift", lambda ws, tmp: ["prepare", "synthetic", "--shift", "poses"], 2, "unknown --shift 'poses'"),
    ("synthetic unknown background", lambda ws, tmp: ["prepare", "synthetic", "--background", "beach"], 2,
     "unknown --background 'beach'"),
    ("synthetic unknown framing", lambda ws, tmp: ["prepare", "synthetic", "--framing", "tight"], 2,
     "unknown --framing 'tight'"),
    ("real dataset without --raw", lambda ws, tmp: ["prepare", "lspet"], 2, "needs --raw DIR"),
    ("raw folder missing", lambda ws, tmp: ["prepare", "lspet", "--raw", str(tmp / "nowhere")], 3, "does not exist"),
    ("joints file of the wrong shape",
     lambda ws, tmp: ["prepare", "lspet", "--raw", str(raw_lspet(tmp, lambda raw, j: scipy.io.savemat(
         raw / "joints.mat", {"joints": np.zeros((14, 2, 3))})))], 4, "(14, 3, N)"),
    ("infinite keypoint in the raw annotations",
     lambda ws, tmp: ["prepare", "lspet", "--raw", str(raw_lspet(tmp, lspet_nan))], 4, "joints.mat"),
    ("corrupt image", lambda ws, tmp: ["prepare", "lspet", "--size", "32", "--workers", "1", "--raw", str(raw_lspet(
        tmp, lambda raw, j: (raw / "images/im00002.jpg").write_bytes(b"\xff\xd8\xff truncated")))], 4, "unreadable image"),
    ("non-image file for predict", lambda ws, tmp: ["predict", str(ws / "workspace.json"), "--checkpoint",
                                                    "pretrain/latest", "--out", str(tmp / "out")], 4, "workspace.json"),
    ("predict box outside the image", lambda ws, tmp: ["predict", str(save_png(tmp)), "--checkpoint", "pretrain/latest",
                                                       "--box", "100,100,200,200", "--out", str(tmp / "out")], 2, "box"),
    ("misspelt config key", lambda ws, tmp: ["pretrain", "--set", "train.setps=3"], 2, "train.setps: unknown key"),
    ("config value of the wrong type", lambda ws, tmp: ["pretrain", "--set", "train.steps=many"], 2, "train.steps"),
    ("malformed --set", lambda ws, tmp: ["pretrain", "--set", "train.steps"], 2, "KEY=VALUE"),
    ("invalid YAML config file", lambda ws, tmp: ["pretrain", "-c", str(write(tmp / "bad.yaml", "train: [1, 2"))], 2,
     "bad.yaml"),
    ("missing dataset", lambda ws, tmp: ["pretrain", "--source", "nope"], 3, "no prepared dataset 'nope'"),
    ("truncated HDF5 split", lambda ws, tmp: truncate(ws / "data/synth_src/val.h5", ["pretrain", *TINY_TRAIN]), 4,
     "corrupt or truncated"),
    ("empty split", lambda ws, tmp: empty_split(ws), 4, "fewer than one batch"),
    ("NaN keypoints in a prepared split",
     lambda ws, tmp: (edit_h5(ws / "data/synth_src/train.h5", "keypoints", lambda k: np.where(k == k.max(), np.nan, k)),
                      ["pretrain", *TINY_TRAIN])[1], 4, "non-finite keypoints"),
    ("resume with new options", lambda ws, tmp: ["pretrain", "--resume", "latest", "--steps", "3"], 2,
     "--resume continues with the run's saved configuration"),
    ("source and target with different keypoint sets",
     lambda ws, tmp: ["adapt", "--target", "quad_tgt", "--set", "style.enabled=false", "--steps", "1"], 4,
     "different keypoints"),
    ("adapting on an evaluation split",
     lambda ws, tmp: ["adapt", "--set", "data.target_split=test", "--set", "style.enabled=false"], 2, "evaluation split"),
    ("missing style cache", lambda ws, tmp: ["adapt", "--set", "style.cache=nope", "--steps", "1"], 3, "no style cache"),
    ("init checkpoint from another stage/method", lambda ws, tmp: adapt_checkpoint_as_init(ws), 4,
     "--init must be a pretrain run"),
    ("checkpoint of another architecture", lambda ws, tmp: other_architecture(ws), 4,
     "do not fit the resnet34 architecture"),
    ("pickled object in a checkpoint", lambda ws, tmp: pickled_checkpoint(ws), 4, "refused"),
    ("truncated checkpoint", lambda ws, tmp: truncate(ckpt_path(ws), ["eval", "pretrain/latest", "--data",
                                                                       "synth_tgt:test"]), 4, "not a readable checkpoint"),
    ("not a checkpoint at all", lambda ws, tmp: ["ckpt", "inspect", str(ws / "workspace.json")], 4,
     "not a readable checkpoint"),
    ("evaluating on another skeleton", lambda ws, tmp: ["eval", "pretrain/latest", "--data", "quad_tgt:test"], 4,
     "differ from the checkpoint's"),
    ("unknown metric", lambda ws, tmp: ["eval", "--metric", "pck@x"], 2, "unknown metric"),
    ("unknown dataset split", lambda ws, tmp: ["eval", "--data", "synth_tgt:nope"], 3, "has no split 'nope'"),
    ("3D metric for a 2D model", lambda ws, tmp: ["eval", "pretrain/latest", "--data", "synth_tgt:test", "--metric",
                                                  "mpjpe"], 2, "needs a 3D model"),
    ("malformed 3D metric", lambda ws, tmp: ["eval", "--metric", "auc@50:20"], 2, "unknown 3D metric"),
    ("unknown training method", lambda ws, tmp: ["pretrain", "--method", "simclr"], 2, "unknown --method 'simclr'"),
    ("mim fine-tuning from a supervised run", lambda ws, tmp: ["adapt", "--method", "mim", "--init", "pretrain/latest",
                                                               "--steps", "1"], 4, "must be an MAE pretrain run"),
    ("mim from scratch without an architecture", lambda ws, tmp: ["adapt", "--method", "mim", "--init", "scratch"], 2,
     "init=scratch needs the architecture"),
    ("stylize alpha range reversed", lambda ws, tmp: ["stylize", "--alpha", "0.8", "0.2", "--force"], 2, "--alpha"),
    ("AdaIN weights missing", lambda ws, tmp: ["stylize", "--method", "adain", "--vgg", str(tmp / "vgg.pth"),
                                               "--name", "a"], 3, "vgg.pth"),
]


def save_png(tmp: Path) -> Path:
    from PIL import Image

    path = tmp / "person.png"
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def truncate(path: Path, args: list[str]) -> list[str]:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    return args


def snapshot(ws: Path) -> set[str]:
    return {str(p.relative_to(ws)) for p in (ws / "runs").glob("*/*")} | {
        str(p.relative_to(ws)) for p in ws.rglob("*.h5")}


def check(result, code: int, fragment: str, ws: Path, before: set[str]) -> None:
    output = result.output
    assert result.exit_code == code, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], output
    assert "Traceback" not in output
    after = snapshot(ws)
    assert after <= before, f"new artifacts after a failed command: {after - before}"
    assert not [p for p in ws.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize("setup, code, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(base_ws, tmp_path, setup, code, fragment):
    ws = tmp_path / "ws"
    shutil.copytree(base_ws, ws)
    args = setup(ws, tmp_path)
    before = snapshot(ws)
    check(runner.invoke(app, ["-w", str(ws), *args]), code, fragment, ws, before)


def test_unwritable_workspace(tmp_path):
    (tmp_path / "file").write_text("")
    result = runner.invoke(app, ["-w", str(tmp_path / "file" / "ws"), "prepare", "synthetic"])
    assert result.exit_code == 2 and "cannot write to workspace" in result.output and "Traceback" not in result.output


def test_a_missing_workspace_for_a_reading_command(tmp_path):
    result = runner.invoke(app, ["-w", str(tmp_path / "nowhere"), "eval"])
    assert result.exit_code == 3 and "no posekit workspace" in result.output


@pytest.mark.parametrize("target, args", [
    ("posekit.workspace.os.fsync", ["pretrain", *TINY_TRAIN, "--set", "train.steps=2"]),
    ("posekit.data.h5format.H5Writer.append", ["prepare", "synthetic", "--size", "64", "--num-train", "8",
                                               "--num-val", "0", "--num-test", "8", "--workers", "1", "--name", "x"]),
], ids=["checkpoint write", "dataset write"])
def test_a_full_disk_fails_cleanly(base_ws, tmp_path, monkeypatch, target, args):
    ws = tmp_path / "ws"
    shutil.copytree(base_ws, ws)
    full_disk_during(target)(ws, monkeypatch)
    before = {p for p in ws.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["-w", str(ws), *args])
    assert result.exit_code == 1 and "No space left on device" in result.output, result.output
    assert "Traceback" not in result.output
    new = {p for p in ws.rglob("*") if p.is_file()} - before
    assert not [p for p in new if p.suffix in (".pt", ".h5") or p.name.endswith(".tmp")], new
    manifests = [json.loads(p.read_text()) for p in new if p.name == "manifest.json"]
    assert all(m["status"] == "incomplete" for m in manifests)


def test_workspace_busy(base_ws, tmp_path):
    from posekit.workspace import Workspace

    ws = tmp_path / "ws"
    shutil.copytree(base_ws, ws)
    with Workspace(ws).lock("styles/synth_src__synth_tgt"):
        result = runner.invoke(app, ["-w", str(ws), "stylize", "--force"])
    assert result.exit_code == 5 and "being written by" in result.output


def print_table() -> None:
    """``python -m tests.test_bad_inputs``: run every case and print the table of docs/errors.md."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tiny = root / "tiny"
        from tests.conftest import TINY_PREPARE

        assert runner.invoke(app, ["-w", str(tiny), *TINY_PREPARE]).exit_code == 0
        base = build_base_ws(tiny, root / "base")
        print("| # | bad input | command | exit | what the user sees |\n|---|---|---|---|---|")
        for i, (name, setup, _, _) in enumerate(CASES, 1):
            case = root / f"case{i}"
            case.mkdir()
            ws = case / "ws"
            shutil.copytree(base, ws)
            args = setup(ws, case)
            result = runner.invoke(app, ["-w", str(ws), *args])
            lines = [line for line in result.output.splitlines() if line.startswith(("error:", "hint:"))]
            shown = "<br>".join(line.replace(str(root), "…").replace("|", "\\|") for line in lines)
            print(f"| {i} | {name} | `posekit {args[0]}` | {result.exit_code} | {shown} |")


if __name__ == "__main__":
    print_table()
