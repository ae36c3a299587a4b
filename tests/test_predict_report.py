"""`posekit predict` and `posekit report`, and the drawing code under them (posekit/viz)."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from posekit.cli import app
from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.inference import crop_region, network_crop, predict_crops
from posekit.viz.curves import PANEL_W, curve_panels, format_ticks, render_curves
from posekit.viz.overlay import SIDE_COLOURS, draw_pose, resize_with_keypoints, stroke_sizes

runner = CliRunner()


def invoke(ws, *args):
    return runner.invoke(app, ["-w", str(ws), *args])


def run_dir(ws: Path, stage: str) -> Path:
    return ws / "runs" / stage / (ws / "runs" / stage / "latest").read_text().strip()


def save_test_images(ws: Path, dataset: str, folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    with h5py.File(ws / f"data/{dataset}/test.h5") as f:
        paths = [folder / f"img{i:02d}.png" for i in range(n)]
        for i, p in enumerate(paths):
            Image.fromarray(f["images"][i]).save(p)
    return paths


def predictions(out: Path) -> dict:
    return json.loads((out / "predictions.json").read_text())


def keypoints(record: dict, person: int = 0) -> np.ndarray:
    """``[K,3]`` (x, y, score) of one person of an image's record in predictions.json."""
    return np.array(record["people"][person]["keypoints"])


# -- overlay ---------------------------------------------------------------------------------------------------
def test_a_drawn_joint_changes_the_pixels_at_its_location_only():
    image = np.zeros((64, 64, 3), np.uint8)
    kp = np.zeros((16, 3))
    kp[0] = [20, 30, 2]  # right ankle
    out = draw_pose(image, kp, MPII16)
    assert tuple(out[30, 20]) == SIDE_COLOURS["right"]
    changed = np.argwhere((out != image).any(-1))
    _, radius = stroke_sizes(64, 64)
    assert (np.abs(changed - [30, 20]) <= radius + 1).all()
    assert image.sum() == 0  # the input is not modified


def test_joints_with_v0_and_their_edges_are_not_drawn():
    image = np.full((64, 64, 3), 128, np.uint8)
    kp = np.zeros((16, 3))
    kp[:, :2] = 32
    assert np.array_equal(draw_pose(image, kp, MPII16), image)  # every v = 0
    kp[0] = [10, 10, 2]
    kp[1] = [50, 50, 0]  # edge (0, 1) must not be drawn
    assert np.array_equal(draw_pose(image, kp, MPII16)[30, 30], image[30, 30])
    kp[1, 2] = 2
    assert not np.array_equal(draw_pose(image, kp, MPII16)[30, 30], image[30, 30])
    kp[1, :2] = np.nan  # non-finite coordinates are skipped too
    assert np.array_equal(draw_pose(image, kp, MPII16)[30, 30], image[30, 30])


def test_ground_truth_is_drawn_in_another_style_and_sizes_follow_the_image():
    image = np.zeros((64, 64, 3), np.uint8)
    gt = np.zeros((16, 3))
    gt[0] = [20, 30, 2]
    none = np.zeros((16, 3))
    out = draw_pose(image, none, MPII16, gt=gt)
    assert out[30, 20].any() and tuple(out[30, 20]) != SIDE_COLOURS["right"]
    assert stroke_sizes(64, 64) == (1, 2) and stroke_sizes(1024, 512) == (8, 16)


def test_resize_moves_keypoints_with_pixel_centres():
    image = np.zeros((64, 32, 3), np.uint8)
    big, (kp,) = resize_with_keypoints(image, 192, np.array([[0.0, 0.0, 2.0], [31.0, 63.0, 1.0]]))
    assert big.shape == (192, 96, 3)
    assert np.allclose(kp, [[1.0, 1.0, 2.0], [94.0, 190.0, 1.0]])  # (x + 0.5)·3 − 0.5


# -- curves ----------------------------------------------------------------------------------------------------
def test_curve_panels_one_per_loss_term_lr_and_validation_split():
    rows = [{"step": s, "lr": 1e-3, "loss/loss": 1.0 / s, "loss/sup": 0.5 / s, "time/iter": 0.1} for s in (1, 2, 3)]
    rows.append({"step": 3, "split": "source_val", "pck@0.05": 0.2, "oracle/pck@0.05": 0.1})
    panels = curve_panels(rows)
    assert [p.title for p in panels] == ["loss/loss", "loss/sup", "learning rate", "source_val (validation)"]
    assert [p.log for p in panels] == [True, True, True, False]
    assert [s.label for s in panels[-1].series] == ["oracle/pck@0.05", "pck@0.05"]
    assert panels[0].series[0].values == [1.0, 0.5, 1.0 / 3]
    assert [p.log for p in curve_panels(rows, log_losses=False)][:2] == [False, False]
    image = render_curves(rows + [{"step": 4, "loss/loss": float("nan")}], "t")
    assert image.size[0] == 3 * PANEL_W and image.size[1] > 2 * 200
    assert format_ticks([1.3865, 1.3866]) == ["1.3865", "1.3866"] and format_ticks([1e-5, 1e-4]) == ["1e-5", "1e-4"]


# -- geometry --------------------------------------------------------------------------------------------------
def test_network_crops_follow_the_converters_convention():
    image = np.zeros((100, 200, 3), np.uint8)
    crop, affine = network_crop(image, None, 1.25, 64)  # whole image, padded to a square; margin unused
    assert crop.shape == (64, 64, 3) and crop_region(affine, 64) == [-0.5, -50.5, 199.5, 149.5]
    _, affine = network_crop(image, (10, 20, 30, 60), 1.5, 64)
    assert np.allclose(crop_region(affine, 64), [-10, 10, 50, 70])
    _, affine = network_crop(image, (-1, 20, 30, 60), 1.0, 64)  # clipped to the image's extent first
    assert np.allclose(crop_region(affine, 64), [-5.25, 20, 34.75, 60])  # centre x (-0.5 + 30) / 2
    square = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    crop, affine = network_crop(square, None, 1.0, 64)  # a crop of the input size is fed as it is, as in eval
    assert np.array_equal(crop, square) and np.allclose(affine, np.eye(3)[:2])


class BrightnessCentroid(nn.Module):
    """Heatmaps peaking at the input's brightness centroid (every joint), so predictions track a bright blob."""

    def __init__(self, input_size: int):
        super().__init__()
        self.codec = HeatmapCodec(input_size, input_size // 4, 2.0)

    def forward(self, x):
        mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
        w = (x * std + mean).mean(1).clamp_min(0)
        w = w / w.sum((1, 2), keepdim=True)
        grid = torch.arange(x.shape[-1], dtype=torch.float32)
        xy = torch.stack([(w.sum(1) * grid).sum(-1), (w.sum(2) * grid).sum(-1)], -1)  # [B,2]
        kp = torch.cat([xy, torch.full_like(xy[:, :1], 2.0)], -1)[:, None].expand(-1, 16, -1)
        return {"heatmaps": self.codec.encode(kp)[0]}


def test_predictions_land_on_a_blob_in_original_pixels_with_and_without_a_box():
    h, w, centre = 160, 240, np.array([143.3, 61.7])
    ys, xs = np.mgrid[0:h, 0:w]
    image = np.repeat(255 * np.exp(-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / (2 * 8.0**2))[..., None], 3, -1)
    pairs = [network_crop(image.astype(np.uint8), box, margin, 64)
             for box, margin in ((None, 1.0), ((110, 20, 190, 120), 1.25), ((120, 40, 160, 80), 2.0))]
    crops, affines = np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
    xy, _ = predict_crops(BrightnessCentroid(64), crops, affines, 2.0, torch.device("cpu"))
    assert xy.shape == (3, 16, 2)
    assert np.abs(xy - centre).max() < 0.5, xy[:, 0]


# -- predict ---------------------------------------------------------------------------------------------------
def test_predict_whole_images_equals_eval_and_writes_json_and_overlays(trained, tmp_path):
    from posekit.evaluation.evaluate import predict_split
    from posekit.inference import load_model

    paths = save_test_images(trained, "synth_src", tmp_path / "imgs", 16)
    (tmp_path / "imgs" / "notes.txt").write_text("not an image")  # directories: only image files are read
    out = tmp_path / "out"
    # float32 (--amp off, and predict_split's default below): the heatmaps of this untrained network are flat, so
    # bf16's rounding, which differs with the batch's make-up, would move their peaks anywhere
    result = invoke(trained, "predict", str(tmp_path / "imgs"), "--checkpoint", "pretrain/latest", "--out", str(out),
                    "--batch-size", "5", "--amp", "off")
    assert result.exit_code == 0, result.output
    pred = predictions(out)
    ckpt = run_dir(trained, "pretrain") / "ckpt/final.pt"
    assert pred["checkpoint"] == str(ckpt) and pred["weights"].startswith("model") and pred["stage"] == "pretrain"
    assert pred["joints"] == list(MPII16.names) and pred["coordinate_space"].startswith("original image pixels")
    assert [r["file"] for r in pred["images"]] == [str(p) for p in paths]
    (first,) = pred["images"][0]["people"]
    assert first["box"] is None and first["crop_region"] == [-0.5, -0.5, 63.5, 63.5] and len(first["keypoints"]) == 16
    assert pred["flip"] is False and pred["boxes"] is None
    for p in paths:
        with Image.open(out / f"{p.stem}_overlay.png") as im:
            assert im.format == "PNG" and im.size == (64, 64)
    assert sorted(f.name for f in out.iterdir()) == sorted(["predictions.json", *(f"{p.stem}_overlay.png" for p in paths)])
    model, _, _, _ = load_model(ckpt, "auto", torch.device("cpu"))
    ref = predict_split(model, trained / "data/synth_src/test.h5", 64, 1.0, torch.device("cpu"), batch_size=16)
    got = np.stack([keypoints(r) for r in pred["images"]])
    assert np.abs(got[..., :2] - ref.keypoints).max() < 0.02  # numerics of an untrained, flat heatmap; a mapping
    # error would be ≥ 0.5 px
    assert np.abs(got[..., 2] - ref.scores).max() < 1e-4
    assert "img00.png" in result.output and "predictions.json" in result.output


def test_predict_maps_back_through_upscaling_and_boxes(trained, tmp_path):
    (crop,) = save_test_images(trained, "synth_tgt", tmp_path / "a", 1)
    image = np.asarray(Image.open(crop))
    (tmp_path / "b").mkdir()
    Image.fromarray(image.repeat(2, 0).repeat(2, 1)).save(tmp_path / "b" / "big.png")  # nearest-neighbour ×2
    canvas = np.zeros((120, 160, 3), np.uint8)
    canvas[30:94, 40:104] = image
    Image.fromarray(canvas).save(tmp_path / "b" / "canvas.png")
    args = ["--checkpoint", "adapt/latest"]
    assert invoke(trained, "predict", str(crop), *args, "--out", str(tmp_path / "o1")).exit_code == 0
    assert invoke(trained, "predict", str(tmp_path / "b" / "big.png"), *args, "--out", str(tmp_path / "o2")).exit_code == 0
    result = invoke(trained, "predict", str(tmp_path / "b" / "canvas.png"), *args, "--out", str(tmp_path / "o3"),
                    "--box", "39.5,29.5,103.5,93.5", "--margin", "1")
    assert result.exit_code == 0, result.output
    base = keypoints(predictions(tmp_path / "o1")["images"][0])
    big = keypoints(predictions(tmp_path / "o2")["images"][0])
    boxed = predictions(tmp_path / "o3")
    assert np.abs(big[:, :2] - ((base[:, :2] + 0.5) * 2 - 0.5)).max() < 2e-3  # same network input, coordinates ×2
    assert np.abs(big[:, 2] - base[:, 2]).max() < 1e-4
    record = boxed["images"][0]
    person = record["people"][0]
    assert person["box"] == [39.5, 29.5, 103.5, 93.5] and person["crop_region"] == [39.5, 29.5, 103.5, 93.5]
    assert boxed["margin"] == 1.0 and boxed["weights"] == "teacher"
    assert np.abs(keypoints(record)[:, :2] - (base[:, :2] + [40, 30])).max() < 2e-3
    with Image.open(tmp_path / "o3" / "canvas_overlay.png") as im:
        assert im.size == (160, 120)
    result = invoke(trained, "predict", str(crop), *args, "--weights", "student", "--out", str(tmp_path / "o4"))
    assert result.exit_code == 0 and predictions(tmp_path / "o4")["weights"] == "student"


def test_predict_accepts_globs(trained, tmp_path):
    paths = save_test_images(trained, "synth_tgt", tmp_path / "g", 3)
    result = invoke(trained, "predict", str(tmp_path / "g" / "img0[02].png"), "--checkpoint",
                    str(run_dir(trained, "pretrain")), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    assert [r["file"] for r in predictions(tmp_path / "o")["images"]] == [str(paths[0]), str(paths[2])]


def test_predict_bad_inputs_fail_with_one_line_and_write_nothing(trained, tmp_path):
    (good,) = save_test_images(trained, "synth_tgt", tmp_path, 1)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.png").write_bytes(b"not a png at all")
    final = (run_dir(trained, "pretrain") / "ckpt/final.pt").read_bytes()
    (tmp_path / "broken.pt").write_bytes(final[: len(final) // 2])  # truncated
    ckpt = ["--checkpoint", "pretrain/latest"]
    cases = [
        ((str(tmp_path / "notes.txt"), *ckpt), 4, "notes.txt: not a readable image"),
        ((str(tmp_path / "fake.png"), *ckpt), 4, "fake.png: not a readable image"),
        ((str(tmp_path / "missing.png"), *ckpt), 3, "missing.png: no such file"),
        ((str(tmp_path / "*.jpg"), *ckpt), 3, "no file matches"),
        ((str(good), "--checkpoint", str(tmp_path / "nope.pt")), 3, "no checkpoint file"),
        ((str(good), "--checkpoint", str(tmp_path / "broken.pt")), 4, "not a readable checkpoint"),
        ((str(good), "--checkpoint", "adapt/nope"), 3, "no run 'adapt/nope'"),
        ((str(good), *ckpt, "--box", "70,10,90,40"), 2, "lies outside img00.png (64×64)"),
        ((str(good), *ckpt, "--box", "10,10,5"), 2, "is not four numbers"),
        ((str(good), *ckpt, "--box", "30,10,20,40"), 2, "is empty"),
        ((str(good), *ckpt, "--weights", "both"), 2, "unknown --weights"),
    ]
    out = tmp_path / "out"
    for args, code, fragment in cases:
        result = invoke(trained, "predict", *args, "--out", str(out))
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == code, (fragment, result.output)
        assert fragment in lines[0] and lines[0].startswith("error:"), result.output
        assert len(lines) == 2 and lines[1].startswith("hint:"), result.output
        assert "Traceback" not in result.output
        assert not out.exists(), fragment


def test_predict_reads_16_bit_images_and_boxes_partly_outside_the_image(trained, tmp_path):
    """A 16-bit greyscale PNG predicts as its 8-bit version (not as an all-white image), and a box that leaves the
    image on one side is clipped to it, as the converters clip theirs."""
    (crop,) = save_test_images(trained, "synth_tgt", tmp_path / "a", 1)
    grey8 = np.asarray(Image.open(crop).convert("L"))
    Image.fromarray(grey8).convert("RGB").save(tmp_path / "a" / "eight.png")
    Image.fromarray(grey8.astype(np.uint16) * 257).save(tmp_path / "a" / "sixteen.png")  # the same values ×257
    assert Image.open(tmp_path / "a" / "sixteen.png").mode.startswith("I;16")
    for name in ("eight", "sixteen"):
        result = invoke(trained, "predict", str(tmp_path / "a" / f"{name}.png"), "--checkpoint", "pretrain/latest",
                        "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    assert keypoints(predictions(tmp_path / "eight")["images"][0]).tolist() == \
        keypoints(predictions(tmp_path / "sixteen")["images"][0]).tolist()
    result = invoke(trained, "predict", str(crop), "--checkpoint", "pretrain/latest", "--box", "-20,10,40,50",
                    "--margin", "1", "--out", str(tmp_path / "partly"))
    assert result.exit_code == 0, result.output
    record = predictions(tmp_path / "partly")["images"][0]
    assert record["people"][0]["crop_region"] == [-0.5, 9.75, 40.0, 50.25]  # clipped to [-0.5, 10, 40, 50]: a 40.5 px square


def test_predict_failure_midway_leaves_an_existing_out_folder_as_it_was(trained, tmp_path, monkeypatch):
    import posekit.stages.predict as predict_stage
    from posekit.errors import DataError

    paths = save_test_images(trained, "synth_tgt", tmp_path / "imgs", 3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    original = predict_stage.load_image

    def fail_on_third(path):
        if path.name == paths[2].name:
            raise DataError(f"{path}: cannot decode the image (truncated)")
        return original(path)

    monkeypatch.setattr(predict_stage, "load_image", fail_on_third)
    result = invoke(trained, "predict", str(tmp_path / "imgs"), "--checkpoint", "pretrain/latest", "--out", str(out),
                    "--batch-size", "2")
    assert result.exit_code == 4 and "cannot decode" in result.output
    assert [f.name for f in out.iterdir()] == ["keep.txt"]


# -- report ----------------------------------------------------------------------------------------------------
def copy_run(src: Path, name: str) -> Path:
    dst = src.with_name(f"{src.name}-{name}")
    shutil.copytree(src, dst)
    return dst


def assert_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


def test_report_of_an_adapt_run_shows_before_and_after(trained):
    run = copy_run(run_dir(trained, "adapt"), "report")
    pre = copy_run(run_dir(trained, "pretrain"), "report")
    assert invoke(trained, "eval", str(run), "--data", "synth_tgt:test").exit_code == 0
    assert invoke(trained, "report", str(pre), "--num", "3").exit_code == 0
    result = invoke(trained, "report", str(run), "--num", "3")
    assert result.exit_code == 0, result.output
    files = ["curves.png", "overlays_source.png", "overlays_target.png", "report.md", "report.html"]
    assert sorted(f.name for f in (run / "report").iterdir()) == sorted(files)
    for name in files:
        assert str(run / "report" / name) in result.output.replace("\n", "")
    assert_png(run / "report/curves.png")
    adapt_size = assert_png(run / "report/overlays_target.png")
    pre_size = assert_png(pre / "report/overlays_target.png")  # a pretrain run: target found via its manifest
    assert adapt_size[1] - pre_size[1] == 192 + 6  # one more row (before and after) of 192-pixel cells
    md = (run / "report/report.md").read_text()
    html = (run / "report/report.html").read_text()
    for text in (md, html):
        assert run.name in text and "multilevel" in text and "no labels used for selection" in text
        assert "init: pretrain run" in text and "target dataset synth_tgt" in text and "ORACLE" not in text
        assert "synth_tgt:test" in text and "final.pt step 2 (teacher)" in text  # the eval table
    assert "![synth_tgt:test](overlays_target.png)" in md and "\nstyle:\n  enabled: false" in md  # the config
    assert html.count("data:image/png;base64,") == 3 and 'src="curves.png"' not in html
    embedded = html.split("data:image/png;base64,")[1].split('"')[0]
    assert Image.open(io.BytesIO(base64.b64decode(embedded))).format == "PNG"


def test_report_says_oracle_first_and_takes_other_data(trained):
    from posekit.engine.checkpoint import save_checkpoint

    run = copy_run(run_dir(trained, "pretrain"), "oracle")
    ckpt = torch.load(run / "ckpt/final.pt", weights_only=True)
    ckpt["selected_by"] = "oracle"
    save_checkpoint(run / "ckpt/final.pt", {k: v for k, v in ckpt.items() if k not in ("format", "version")})
    result = invoke(trained, "report", str(run), "--data", "synth_tgt:val", "--num", "2", "--no-log-losses")
    assert result.exit_code == 0, result.output
    assert sorted(f.name for f in (run / "report").iterdir()) == [
        "curves.png", "overlays_synth_tgt-val.png", "report.html", "report.md"]
    md = (run / "report/report.md").read_text()
    assert md.index("> **ORACLE") < md.index("## Training curves") and "YES (ORACLE)" in md
    assert '<div class="oracle">ORACLE' in (run / "report/report.html").read_text()


def test_report_errors_are_one_line(trained, tmp_path):
    result = invoke(trained, "report", "adapt/nope")
    assert result.exit_code == 3 and "no run 'adapt/nope'" in result.output and "Traceback" not in result.output
    run = copy_run(run_dir(trained, "pretrain"), "bad")
    result = invoke(trained, "report", str(run), "--data", "synth_tgt:nosuch")
    assert result.exit_code == 3 and "has no split 'nosuch'" in result.output
    assert not (run / "report").exists()
