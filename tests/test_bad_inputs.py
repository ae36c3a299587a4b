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


def coco_raw(tmp: Path, edit: Callable[[dict], None]) -> list[str]:
    """A two-image COCO raw tree whose annotation file ``edit`` spoils → the prepare arguments."""
    from tests.test_converters import write_image

    raw = tmp / "coco"
    write_image(raw / "a.jpg", 60, 40)
    write_image(raw / "b.jpg", 50, 50, seed=1)
    doc = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
           "categories": [{"id": 1, "name": "person", "keypoints": ["left_eye", "right_eye", "nose"],
                           "skeleton": [[1, 3], [2, 3]]}],
           "annotations": [{"id": 10, "image_id": 1, "category_id": 1, "keypoints": [10, 12, 2, 30, 14, 2, 20, 20, 1]},
                           {"id": 11, "image_id": 2, "category_id": 1, "keypoints": [5, 6, 2, 25, 7, 2, 15, 30, 2]}]}
    edit(doc)
    (raw / "ann.json").write_text(json.dumps(doc))
    return ["prepare", "coco", "--raw", str(raw), "--ann-file", "val=ann.json", "--size", "32", "--workers", "1"]


def lspet_more_images(raw: Path, joints: np.ndarray) -> None:
    """joints.mat for the first two of the three images."""
    scipy.io.savemat(raw / "joints.mat", {"joints": joints.transpose(1, 2, 0)[..., :2]})


def symlink_loop(tmp: Path) -> str:
    (tmp / "loop_a").symlink_to(tmp / "loop_b")
    (tmp / "loop_b").symlink_to(tmp / "loop_a")
    return str(tmp / "loop_a")


def unfinished_run(ws: Path) -> str:
    """A copy of the pretrain run without final.pt (as if it had been interrupted) → ``pretrain/ID``."""
    run = ckpt_path(ws).parent.parent
    cut = run.with_name(run.name + "-cut")
    shutil.copytree(run, cut)
    (cut / "ckpt/final.pt").unlink()
    return f"pretrain/{cut.name}"


def torchscript_export(ws: Path, tmp: Path) -> Path:
    result = runner.invoke(app, ["-w", str(ws), "export", "pretrain/latest", "--format", "torchscript", "-o",
                                 str(tmp / "exported")])
    assert result.exit_code == 0, result.output
    return tmp / "exported/model.pt"


def empty_last(ws: Path) -> str:
    """The unfinished copy of the pretrain run (:func:`unfinished_run`) with an empty ckpt/last.pt."""
    ref = unfinished_run(ws)
    (ws / "runs" / ref / "ckpt/last.pt").write_bytes(b"")
    return ref


def foreign_zip(tmp: Path) -> Path:
    import zipfile

    with zipfile.ZipFile(tmp / "weights.zip", "w") as archive:
        archive.writestr("weights/readme.txt", "not torch")
    return tmp / "weights.zip"


def second_run_named(ws: Path) -> None:
    run = ckpt_path(ws).parent.parent
    shutil.copytree(run, run.with_name("20200101-000000-supervised"))


def marker(ws: Path, text: str) -> None:
    (ws / "workspace.json").write_text(text)


def no_joint_names(ws: Path) -> list[str]:
    path = ckpt_path(ws)
    ckpt = torch.load(path, weights_only=True)
    ckpt["keypoints"] = {"name": "human16"}
    torch.save(ckpt, path)
    return ["eval", "pretrain/latest", "--data", "synth_tgt:test"]


def full_disk_during(target: str) -> Callable:
    def setup(ws: Path, monkeypatch) -> None:
        def no_space(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(ws))
        monkeypatch.setattr(target, no_space)
    return setup


# (id, setup(ws, tmp) → args, expected exit code, fragment of the error line)
CASES: list[tuple[str, Callable, int, str]] = [
    ("unknown dataset name", lambda ws, tmp: ["prepare", "lsp_extended"], 2, "unknown dataset 'lsp_extended'"),
    ("synthetic gap out of range", lambda ws, tmp: ["prepare", "synthetic", "--gap", "2"], 2, "--gap must be ≤ 1, got 2"),
    ("synthetic pose spread not positive", lambda ws, tmp: ["prepare", "synthetic", "--pose-spread", "0"], 2,
     "--pose-spread must be > 0, got 0"),
    ("synthetic roll out of range", lambda ws, tmp: ["prepare", "synthetic", "--roll", "270"], 2, "--roll must be ≤ 180, got 270"),
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
    # -- issue 21: write failures, silent corruption, names, markup, tracebacks, hints, lenient values ----------
    ("style cache path taken by a folder",
     lambda ws, tmp: ((ws / "styles/taken/cache.h5").mkdir(parents=True), ["stylize", "--name", "taken"])[1], 1,
     "Is a directory"),
    ("COCO images repeating an id",
     lambda ws, tmp: coco_raw(tmp, lambda d: d["images"].append({"id": 1, "file_name": "b.jpg"})), 4,
     "lists id 1 twice"),
    ("COCO visibility flag outside 0-2",
     lambda ws, tmp: coco_raw(tmp, lambda d: d["annotations"][0]["keypoints"].__setitem__(5, 3)), 4,
     "visibility flag 3 is not 0, 1 or 2"),
    ("COCO coordinate beyond any image",
     lambda ws, tmp: coco_raw(tmp, lambda d: d["annotations"][1]["keypoints"].__setitem__(0, 1e308)), 4,
     "is more than 1e+06 px from the image"),
    ("COCO keypoints given as strings",
     lambda ws, tmp: coco_raw(tmp, lambda d: d["annotations"][0].__setitem__("keypoints", ["10"] * 9)), 4,
     "keypoints must be numbers"),
    ("COCO keypoint names listed twice",
     lambda ws, tmp: coco_raw(tmp, lambda d: d["categories"][0].__setitem__("keypoints", ["eye", "eye", "nose"])), 4,
     "eye appear twice"),
    ("COCO annotation that is not an object",
     lambda ws, tmp: coco_raw(tmp, lambda d: d["annotations"].append([1, 2])), 4, "annotations[2] is not an object"),
    ("LSPET joints.mat shorter than the images",
     lambda ws, tmp: ["prepare", "lspet", "--raw", str(raw_lspet(tmp, lspet_more_images))], 4,
     "annotates 2 images, but"),
    ("joints.mat that is not a MAT file",
     lambda ws, tmp: ["prepare", "lspet", "--raw", str(raw_lspet(tmp, lambda raw, j: (raw / "joints.mat").write_bytes(
         b"\0" * 300)))], 4, "not a readable .mat file"),
    ("raw folder that is a symlink loop", lambda ws, tmp: ["prepare", "lspet", "--raw", symlink_loop(tmp)], 3,
     "cannot be resolved"),
    ("dataset name escaping the workspace",
     lambda ws, tmp: ["prepare", "synthetic", "--name", "../../escape", "--size", "64", "--num-train", "8"], 2,
     "--name '../../escape' is not a valid name"),
    ("run name with a path separator", lambda ws, tmp: ["pretrain", "--name", "a/b"], 2, "--name 'a/b' is not a valid"),
    ("style cache name escaping the workspace", lambda ws, tmp: ["stylize", "--name", "../out"], 2,
     "--name: '../out' is not a valid name"),
    ("style cache key escaping the workspace", lambda ws, tmp: ["adapt", "--set", "style.cache=../../x"], 2,
     "style.cache: '../../x' is not a valid name"),
    ("split name escaping the dataset", lambda ws, tmp: ["eval", "--data", "synth_tgt:../../../x"], 2,
     "split '../../../x' is not a valid name"),
    ("run id that is not a name", lambda ws, tmp: ["eval", "pretrain/.hidden", "--data", "synth_tgt:test"], 2,
     "run id '.hidden' is not a valid name"),
    ("latest naming no run",
     lambda ws, tmp: ((ws / "runs/pretrain/latest").write_text("b\n"), ["eval", "pretrain/latest"])[1], 4,
     "names 'b', which is not a run"),
    ("empty --workspace", lambda ws, tmp: ["eval"], 2, "--workspace is empty"),
    ("corrupt workspace.json", lambda ws, tmp: (marker(ws, "{not json"), ["eval"])[1], 4,
     "unreadable workspace marker"),
    ("workspace of an unknown schema version",
     lambda ws, tmp: (marker(ws, '{"schema_version": 9}'), ["prepare", "synthetic"])[1], 4,
     "workspace schema version 9"),
    ("markup-like dataset name", lambda ws, tmp: ["eval", "pretrain/latest", "--data", "[/red]:test"], 2,
     "dataset '[/red]' is not a valid name"),
    ("markup-like config key", lambda ws, tmp: ["config", "show", "--set", "train.[/x]=1"], 2,
     "train.[/x]: unknown key"),
    ("markup-like image path",
     lambda ws, tmp: ["predict", str(write(tmp / "a[/b]" / "x[bold].png", "text")), "--checkpoint", "pretrain/latest",
                      "--out", str(tmp / "out")], 4, "a[/b]/x[bold].png: not a readable image"),
    ("NaN crop margin", lambda ws, tmp: ["predict", str(save_png(tmp)), "--checkpoint", "pretrain/latest", "--box",
                                         "2,2,20,30", "--margin", "nan", "--out", str(tmp / "out")], 2,
     "--margin must be a finite number, got nan"),
    ("NaN FDA beta", lambda ws, tmp: ["stylize", "--method", "fda", "--beta", "nan", "--name", "f"], 2,
     "--beta must be a finite number, got nan"),
    ("checkpoint without joint names", lambda ws, tmp: no_joint_names(ws), 4, "incomplete checkpoint header"),
    ("report of an unfinished run", lambda ws, tmp: ["report", unfinished_run(ws)], 3, "final.pt does not exist"),
    ("predict from an unfinished run",
     lambda ws, tmp: ["predict", str(save_png(tmp)), "--checkpoint", unfinished_run(ws), "--out", str(tmp / "out")], 3,
     "final.pt does not exist"),
    ("CUDA device on a machine without one",
     lambda ws, tmp: ["eval", "--device", "cuda" if not torch.cuda.is_available() else "cuda:99"], 2, "cuda"),
    ("truncated last checkpoint",
     lambda ws, tmp: truncate(ckpt_path(ws).with_name("last.pt"), ["eval", "pretrain/latest", "--checkpoint", "last",
                                                                    "--data", "synth_tgt:test"]), 4,
     "last.pt: not a readable checkpoint"),
    ("learning rate above 1", lambda ws, tmp: ["pretrain", "--set", "optim.lr=1e38"], 2,
     "optim.lr: Input should be less than or equal to 1"),
    ("config path that is a folder", lambda ws, tmp: ["pretrain", "-c", str(tmp)], 2, "is a directory"),
    ("resuming a run of the other stage", lambda ws, tmp: ["adapt", "--resume", "pretrain/latest"], 2,
     "pretrain/latest is a pretrain run"),
    ("config key in the wrong section", lambda ws, tmp: ["pretrain", "--set", "train.lr=0.1"], 2,
     "train.lr: unknown key"),
    ("boolean for a number", lambda ws, tmp: ["pretrain", "--set", "train.steps=true"], 2,
     "train.steps: expected a number, got true/false"),
    ("infinite learning rate", lambda ws, tmp: ["pretrain", "--set", "optim.lr=.inf"], 2,
     "optim.lr: Input should be a finite number"),
    ("milestones outside [0, 1]", lambda ws, tmp: ["pretrain", "--set", "optim.milestones=[0.5,2]"], 2,
     "optim.milestones: [0.5, 2.0] must be fractions"),
    ("reversed scale range", lambda ws, tmp: ["pretrain", "--set", "augment.scale=[1.3,0.7]"], 2,
     "augment.scale: [1.3, 0.7] must be a range"),
    ("repeated key in a config file",
     lambda ws, tmp: ["pretrain", "-c", str(write(tmp / "dup.yaml", "train:\n  steps: 3\n  steps: 5\n"))], 2,
     "key 'steps' appears twice"),
    ("negative --workers", lambda ws, tmp: ["prepare", "synthetic", "--workers", "-2"], 2, "--workers must be ≥ 1, got -2"),
    ("FDA beta above 0.5", lambda ws, tmp: ["stylize", "--method", "fda", "--beta", "5", "--name", "f"], 2,
     "--beta must be ≤ 0.5, got 5"),
    ("--margin without --box", lambda ws, tmp: ["predict", str(save_png(tmp)), "--checkpoint", "pretrain/latest",
                                                "--margin", "2", "--out", str(tmp / "out")], 2,
     "--margin applies only with --box"),
    ("predict writing into its input folder",
     lambda ws, tmp: ["predict", str(save_png(tmp).parent), "--checkpoint", "pretrain/latest", "--out", str(tmp)], 2,
     "the overlays written there would be read as inputs"),
    # -- issue 31: runs by name, hints from what a run or file is -------------------------------------------------
    ("best weights of a run that selected its last",
     lambda ws, tmp: ["eval", "pretrain/latest", "--checkpoint", "best", "--data", "synth_tgt:test"], 3,
     "the run is finished and selected its last weights"),
    ("a folder that is not a run", lambda ws, tmp: ["eval", str(tmp), "--data", "synth_tgt:test"], 3,
     "is not a posekit run (no config.yaml, no ckpt/)"),
    ("TorchScript export given as a checkpoint",
     lambda ws, tmp: ["predict", str(save_png(tmp)), "--checkpoint", str(torchscript_export(ws, tmp)), "--out",
                      str(tmp / "out")], 4, "this is a TorchScript export, not a checkpoint"),
    ("empty last checkpoint under --resume", lambda ws, tmp: ["pretrain", "--resume", empty_last(ws)], 4,
     "not a readable checkpoint (empty file, 0 bytes)"),
    ("zip file given as a checkpoint",
     lambda ws, tmp: ["eval", "--checkpoint", str(foreign_zip(tmp)), "--data", "synth_tgt:test"], 4,
     "a zip archive that torch.save did not write"),
    ("run name shared by two runs", lambda ws, tmp: (second_run_named(ws), ["eval", "pretrain/supervised"])[1], 2,
     "'pretrain/supervised' names 2 pretrain runs"),
]
# the workspace option of each case: its own copy, except where the case is about the option itself
WORKSPACE_ARG = {"empty --workspace": ""}


def save_png(tmp: Path) -> Path:
    from PIL import Image

    path = tmp / "person.png"
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(path)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
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


@pytest.mark.parametrize("name, setup, code, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input(base_ws, tmp_path, name, setup, code, fragment):
    ws = tmp_path / "ws"
    shutil.copytree(base_ws, ws)
    args = setup(ws, tmp_path)
    before = snapshot(ws)
    check(runner.invoke(app, ["-w", WORKSPACE_ARG.get(name, str(ws)), *args]), code, fragment, ws, before)


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


@pytest.mark.slow
def test_results_go_to_stdout_and_messages_to_stderr(base_ws, tmp_path):
    """As Unix tools do: `posekit list presets > f` or `posekit eval … > results.txt` captures the result, while
    messages, panels and progress go to stderr."""
    ws = tmp_path / "ws"
    shutil.copytree(base_ws, ws)
    cases = [
        (["list", "presets"], "demo"),
        (["list", "datasets"], "coco"),
        (["list", "skeletons"], "human16"),
        (["config", "show", "--explain"], "train.steps"),
        (["ckpt", "inspect", str(ckpt_path(ws))], "components"),
        (["eval", "pretrain/latest", "--data", "synth_tgt:test"], "PCK@0.05"),
        (["prepare", "synthetic", "--size", "64", "--num-train", "48", "--num-val", "16", "--num-test", "16"],
         "up to date"),
        (["predict", str(save_png(tmp_path)), "--checkpoint", "pretrain/latest", "--out", str(tmp_path / "o")],
         "person.png"),
        (["report", "pretrain/latest", "--num", "1"], "report.html"),
    ]
    for args, result_text in cases:
        result = runner.invoke(app, ["-w", str(ws), *args])
        assert result.exit_code == 0, result.output
        assert result_text in result.stdout, (args, result.stdout)
        assert result_text not in result.stderr or args[0] == "report", (args, result.stderr)
    result = runner.invoke(app, ["-w", str(ws), "eval", "--data", "nope:test"])
    assert result.exit_code == 3 and result.stdout == "" and result.stderr.startswith("error:")
    result = runner.invoke(app, ["-w", str(ws), "pretrain", *TINY_TRAIN, "--set", "train.steps=1", "--name", "s"])
    assert result.exit_code == 0 and result.stdout == "" and "done:" in result.stderr


def test_ckpt_inspect_shows_incomplete_keypoint_metadata(base_ws, tmp_path):
    for keypoints, shown in (({}, "—"), ({"name": "x"}, "(incomplete metadata: no joint names)"),
                             ("junk", "(incomplete metadata: no joint names)")):
        ckpt = torch.load(ckpt_path(base_ws), weights_only=True)
        ckpt["keypoints"] = keypoints
        torch.save(ckpt, tmp_path / "c.pt")
        result = runner.invoke(app, ["ckpt", "inspect", str(tmp_path / "c.pt")])
        rows = dict(tuple(cell.strip() for cell in line.strip("│").split("│"))
                    for line in result.stdout.splitlines() if line.count("│") == 3)
        assert result.exit_code == 0 and rows["keypoints"] == shown, result.output


def test_a_loss_diverging_before_any_checkpoint_names_no_checkpoint_and_leaves_no_run(base_ws, tmp_path, monkeypatch):
    from posekit.methods.supervised import SupervisedMethod

    ws = tmp_path / "ws"
    shutil.copytree(base_ws, ws)
    original = SupervisedMethod.losses

    def nan_at_step_1(self, batch, step):
        out = original(self, batch, step)
        if step == 1:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(SupervisedMethod, "losses", nan_at_step_1)
    before = snapshot(ws)
    result = runner.invoke(app, ["-w", str(ws), "pretrain", *TINY_TRAIN, "--set", "train.steps=4",
                                 "--set", "train.ckpt_every=4", "--name", "nan"])
    check(result, 1, "non-finite loss term loss at step 1", ws, before)
    assert "hint: no checkpoint was written before it; lower optim.lr" in result.output
    assert "last good checkpoint" not in result.output


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
            result = runner.invoke(app, ["-w", WORKSPACE_ARG.get(name, str(ws)), *args])
            lines = [line for line in result.output.splitlines() if line.startswith(("error:", "hint:"))]
            shown = "<br>".join(line.replace(str(root), "…").replace("|", "\\|") for line in lines)
            command = " ".join(args[:2]) if args[0] in ("config", "ckpt") else args[0]
            print(f"| {i} | {name} | `posekit {command}` | {result.exit_code} | {shown} |")


if __name__ == "__main__":
    print_table()
