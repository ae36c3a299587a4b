"""The Python API (posekit.load → Predictor.predict), person boxes from COCO-style files (predict --boxes), and the
flip test (eval --flip, predict --flip) on a hand-made case."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from posekit.data.augment import IMAGENET_MEAN, IMAGENET_STD
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.inference import heatmap_forward, mirror_maps
from tests.test_predict_report import BrightnessCentroid, invoke, keypoints, predictions, run_dir, save_test_images


# -- flip test on a hand-made network ---------------------------------------------------------------------------
def centroid(x: torch.Tensor) -> torch.Tensor:
    """Brightness centroid ``[B,2]`` (input pixels) of ImageNet-normalised images ``[B,3,S,S]``."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    w = (x * std + mean).mean(1).clamp_min(0)
    w = w / w.sum((1, 2), keepdim=True)
    grid = torch.arange(x.shape[-1], dtype=torch.float32)
    return torch.stack([(w.sum(1) * grid).sum(-1), (w.sum(2) * grid).sum(-1)], -1)


class OffsetCentroid(nn.Module):
    """Joint k's heatmap is a Gaussian at the brightness centroid + ``offsets[k]``: not mirror-symmetric, so the
    flip-test average of each joint is a known pair of Gaussians."""

    def __init__(self, codec: HeatmapCodec, offsets: torch.Tensor):
        super().__init__()
        self.codec, self.offsets = codec, offsets

    def forward(self, x):
        xy = centroid(x)[:, None] + self.offsets[None]
        return {"heatmaps": self.codec.encode(torch.cat([xy, torch.full_like(xy[..., :1], 2.0)], -1))[0]}


def blob_images(size: int, centres: list[tuple[float, float]]) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    return torch.stack([torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * 5.0**2)).expand(3, -1, -1)
                        for cx, cy in centres])


def test_flip_test_averages_with_the_mirrored_heatmaps_swapped_and_unshifted():
    size, sigma = 64, 2.0
    codec = HeatmapCodec(size, size // 4, sigma)
    offsets = (torch.rand(16, 2, generator=torch.Generator().manual_seed(0)) - 0.5) * 16
    model = OffsetCentroid(codec, offsets)
    images = blob_images(size, [(30.3, 33.9), (28.0, 25.5)])
    perm = MPII16.flip_permutation()
    c = centroid((images - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None])

    def gaussians(xy):
        return codec.encode(torch.cat([xy, torch.full_like(xy[..., :1], 2.0)], -1))[0]

    plain = gaussians(c[:, None] + offsets[None])
    # the mirror's centroid is (S-1-cx, cy); its joint perm[k], mirrored back, lies at (cx - o_x, cy + o_y) of perm[k]
    mirrored = gaussians(torch.stack([c[:, None, 0] - offsets[perm][None, :, 0], c[:, None, 1] + offsets[perm][None, :, 1]], -1))
    _, _, out = heatmap_forward(model, images, sigma)
    assert torch.allclose(out["heatmaps"], plain, atol=1e-5)
    _, _, out = heatmap_forward(model, images, sigma, flip_perm=perm)
    expected = 0.5 * (plain + mirrored)
    assert torch.allclose(out["heatmaps"], expected, atol=1e-5)
    # what MMPose's shift_heatmap would give here is off by a heatmap pixel: the case tells the two apart
    shifted = mirror_maps(model(torch.flip(images, [-1]))["heatmaps"], perm)
    shifted[..., 1:] = shifted[..., :-1].clone()
    assert (0.5 * (plain + shifted) - expected).abs().max() > 0.1
    # without swapping the channels the average is another one as well
    assert (0.5 * (plain + mirrored[:, perm]) - expected).abs().max() > 0.1


def test_flip_test_keeps_a_mirror_symmetric_network_exact():
    images = blob_images(64, [(40.7, 21.2), (12.0, 50.3)])
    base = heatmap_forward(BrightnessCentroid(64), images, 2.0)
    flipped = heatmap_forward(BrightnessCentroid(64), images, 2.0, flip_perm=MPII16.flip_permutation())
    assert torch.allclose(base[2]["heatmaps"], flipped[2]["heatmaps"], atol=1e-5)
    assert (base[0] - flipped[0]).abs().max() < 1e-3


# -- the Python API ----------------------------------------------------------------------------------------------
def test_api_loads_a_run_and_predicts_like_the_command_line(trained, tmp_path):
    import posekit

    paths = save_test_images(trained, "synth_tgt", tmp_path / "imgs", 3)
    # float32 here and below where batches of other make-up are compared: bf16 rounding may differ with it
    result = invoke(trained, "predict", str(tmp_path / "imgs"), "-c", "adapt/latest", "--out", str(tmp_path / "o"),
                    "--amp", "off")
    assert result.exit_code == 0, result.output
    cli = predictions(tmp_path / "o")

    predictor = posekit.load(trained / "runs" / "adapt" / "latest", device="cpu", amp="off")  # the workspace's marker
    assert predictor.checkpoint == Path(cli["checkpoint"]) and predictor.weights == "teacher"
    assert predictor.joint_names == MPII16.names and predictor.input_size == 64
    assert posekit.load("adapt/latest", workspace=trained).checkpoint == predictor.checkpoint
    assert posekit.load(run_dir(trained, "adapt") / "ckpt" / "final.pt", weights="student").weights == "student"

    one = predictor.predict(str(paths[0]))  # a path → one ImagePoses
    assert isinstance(one, posekit.ImagePoses) and (one.height, one.width) == (64, 64) and len(one.people) == 1
    person = one.people[0]
    assert person.keypoints.shape == (16, 2) and person.scores.shape == (16,) and person.box is None
    # the command line predicted the three images as one batch, the API one and then two: float32 kernels may round
    # differently with the batch (vector width, tails), and the JSON keeps 3 decimals; a mapping error is ≥ 0.5 px
    def close(p, record) -> bool:
        want = keypoints(record)
        return np.abs(p.keypoints - want[:, :2]).max() < 0.01 and np.abs(p.scores - want[:, 2]).max() < 1e-4

    assert close(person, cli["images"][0])
    # a PIL image and an array give the same as their file; a list gives a list
    pil, array = Image.open(paths[1]), np.asarray(Image.open(paths[2]))
    many = predictor.predict([pil, array])
    for got, record in zip(many, cli["images"][1:]):
        assert close(got.people[0], record)
    assert many[0].to_dict()["people"][0]["crop_region"] == record["people"][0]["crop_region"]


def test_api_boxes_give_one_person_each_in_original_pixels(trained, tmp_path):
    import posekit

    (crop,) = save_test_images(trained, "synth_tgt", tmp_path, 1)
    image = np.asarray(Image.open(crop))
    canvas = np.zeros((120, 160, 3), np.uint8)
    canvas[20:84, 10:74] = image
    canvas[40:104, 90:154] = image
    predictor = posekit.load(run_dir(trained, "adapt"), device="cpu", amp="off")
    base = predictor.predict(image).people[0].keypoints
    boxes = [(9.5, 19.5, 73.5, 83.5), posekit.Detection((89.5, 39.5, 153.5, 103.5), score=0.7)]
    result = predictor.predict(canvas, boxes=boxes, margin=1.0)
    assert [p.box for p in result.people] == [boxes[0], boxes[1].box] and result.people[1].box_score == 0.7
    assert np.abs(result.people[0].keypoints - (base + [10, 20])).max() < 2e-3
    assert np.abs(result.people[1].keypoints - (base + [90, 40])).max() < 2e-3
    assert predictor.predict([canvas, image], boxes=[[], None])[0].people == []  # an empty box list: nobody
    from posekit.errors import ConfigError

    with pytest.raises(ConfigError, match="box 0 .* lies outside image 0"):
        predictor.predict(canvas, boxes=[(300, 10, 370, 60)])  # no overlap (a box partly outside is clipped)
    with pytest.raises(ConfigError, match="2 entries for 1 images"):
        predictor.predict([canvas], boxes=[None, None])
    with pytest.raises(ConfigError, match="H×W×3 uint8"):
        predictor.predict(canvas.astype(np.float32))


def test_import_posekit_stays_light():
    import subprocess
    import sys

    code = "import sys, posekit; print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


# -- predict --boxes -----------------------------------------------------------------------------------------------
@pytest.fixture
def boxed_folder(trained, tmp_path) -> Path:
    """A folder of three images: 000000000007.png (COCO-style name, a test crop pasted twice), beach.png (once),
    empty.png."""
    (crop,) = save_test_images(trained, "synth_tgt", tmp_path / "src", 1)
    image = np.asarray(Image.open(crop))
    folder = tmp_path / "photos"
    folder.mkdir()
    two = np.zeros((120, 160, 3), np.uint8)
    two[20:84, 10:74] = image
    two[40:104, 90:154] = image
    Image.fromarray(two).save(folder / "000000000007.png")
    one = np.zeros((100, 100, 3), np.uint8)
    one[5:69, 30:94] = image
    Image.fromarray(one).save(folder / "beach.png")
    Image.fromarray(np.zeros((50, 60, 3), np.uint8)).save(folder / "empty.png")
    return folder


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj))
    return path


def test_predict_boxes_from_detections_several_people_per_image(trained, boxed_folder, tmp_path):
    folder = boxed_folder
    dets = write_json(tmp_path / "dets.json", [
        {"image_id": 7, "category_id": 1, "bbox": [9.5, 19.5, 64, 64], "score": 0.9},
        {"image_id": 7, "category_id": 1, "bbox": [89.5, 39.5, 64, 64], "score": 0.8},
        {"file_name": "val/beach.png", "category_id": 1, "bbox": [29.5, 4.5, 64, 64], "score": 0.95},
        {"image_id": 7, "category_id": 1, "bbox": [0, 0, 20, 20], "score": 0.1},  # below --min-score
        {"image_id": 7, "category_id": 3, "bbox": [0, 0, 30, 30], "score": 0.99},  # another category
        {"image_id": 99, "category_id": 1, "bbox": [0, 0, 30, 30], "score": 0.99},  # not an input
    ])
    out = tmp_path / "out"
    result = invoke(trained, "predict", str(folder), "-c", "adapt/latest", "--boxes", str(dets), "--margin", "1",
                    "--min-score", "0.5", "--category", "1", "--out", str(out), "--amp", "off")
    assert result.exit_code == 0, result.output
    assert "3 box(es) for 2 of 3 image(s); left out: 2 below --min-score" in result.output
    assert "1 for images not given" in result.output
    pred = predictions(out)
    assert pred["boxes"] == str(dets) and pred["margin"] == 1.0
    assert [Path(r["file"]).name for r in pred["images"]] == ["000000000007.png", "beach.png", "empty.png"]
    assert [len(r["people"]) for r in pred["images"]] == [2, 1, 0]
    assert [p["box_score"] for p in pred["images"][0]["people"]] == [0.9, 0.8]
    assert pred["images"][0]["people"][1]["box"] == [89.5, 39.5, 153.5, 103.5]  # x, y, w, h → corners
    base = invoke(trained, "predict", str(tmp_path / "src"), "-c", "adapt/latest", "--out", str(tmp_path / "b"),
                  "--amp", "off")
    assert base.exit_code == 0
    kp = keypoints(predictions(tmp_path / "b")["images"][0])[:, :2]
    two, beach = pred["images"][0], pred["images"][1]
    assert np.abs(keypoints(two, 0)[:, :2] - (kp + [10, 20])).max() < 2e-3
    assert np.abs(keypoints(two, 1)[:, :2] - (kp + [90, 40])).max() < 2e-3
    assert np.abs(keypoints(beach)[:, :2] - (kp + [30, 5])).max() < 2e-3
    with Image.open(out / "000000000007_overlay.png") as im:
        drawn = np.asarray(im)
    assert drawn.shape == (120, 160, 3) and (drawn[19:21, 10:74] == 255).all(-1).any()  # the first box's top edge


def test_predict_boxes_from_a_coco_annotations_file(trained, boxed_folder, tmp_path):
    folder = boxed_folder
    ann = write_json(tmp_path / "ann.json", {
        "images": [{"id": 1, "file_name": "val/beach.png"}, {"id": 2, "file_name": "000000000007.png"}],
        "annotations": [{"image_id": 2, "bbox": [9.5, 19.5, 64, 64], "iscrowd": 0},
                        {"image_id": 2, "bbox": [0, 0, 50, 50], "iscrowd": 1},
                        {"image_id": 1, "bbox": [29.5, 4.5, 64, 64]}]})
    out = tmp_path / "out"
    result = invoke(trained, "predict", str(folder / "beach.png"), str(folder / "000000000007.png"), "-c",
                    "pretrain/latest", "--boxes", str(ann), "--out", str(out))
    assert result.exit_code == 0, result.output
    pred = predictions(out)
    assert [len(r["people"]) for r in pred["images"]] == [1, 1]
    assert pred["images"][0]["people"][0]["box"] == [29.5, 4.5, 93.5, 68.5] and pred["margin"] == 1.25
    assert pred["images"][0]["people"][0]["box_score"] is None


def test_predict_boxes_file_errors_are_one_line_naming_file_and_field(trained, boxed_folder, tmp_path):
    folder = boxed_folder
    cases = [
        ("notjson", 4, "invalid JSON"),
        ({"images": []}, 4, "an object without an annotations list"),
        ([{"image_id": 7, "bbox": [1, 2, 3]}], 4, "entry[0]: bbox must be [x, y, w, h]"),
        ([{"image_id": 7, "bbox": [1, 2, 0, 5]}], 4, "entry[0]: bbox [1, 2, 0, 5] has no area"),
        ([{"image_id": 7, "bbox": [1, 2, 3, 4]}, {"bbox": [1, 2, 3, 4]}], 4, "entry[1]: names no image"),
        ([{"image_id": 7, "bbox": [1, 2, 3, 4], "score": "high"}], 4, "entry[0]: score must be a finite number"),
        ([{"image_id": 123, "bbox": [1, 2, 3, 4]}], 4, "none of its 1 boxes belongs to the 3 input image(s)"),
        ({"images": [{"id": 1, "file_name": "x.png"}], "annotations": [{"image_id": 5, "bbox": [1, 2, 3, 4]}]}, 4,
         "annotations[0]: image_id 5 is not in the file's images list"),
        ([{"image_id": 7, "bbox": [300, 10, 50, 50]}], 2, "entry 0 (box 300, 10, 350, 60) lies outside 000000000007.png"),
    ]
    out = tmp_path / "out"
    for i, (content, code, fragment) in enumerate(cases):
        path = tmp_path / f"boxes{i}.json"
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        result = invoke(trained, "predict", str(folder), "-c", "pretrain/latest", "--boxes", str(path), "--out", str(out))
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == code, (fragment, result.output)
        assert lines[0].startswith("error:") and fragment in lines[0] and str(path) in lines[0], result.output
        assert len(lines) == 2 and lines[1].startswith("hint:"), result.output
        assert not out.exists(), fragment
    for args, code, fragment in [(("--boxes", str(tmp_path / "nope.json")), 3, "no boxes file"),
                                 (("--boxes", str(path), "--box", "1,1,5,5"), 2, "--box and --boxes"),
                                 (("--min-score", "0.3"), 2, "filter the boxes of --boxes")]:
        result = invoke(trained, "predict", str(folder), "-c", "pretrain/latest", *args, "--out", str(out))
        assert result.exit_code == code and fragment in result.output and "Traceback" not in result.output
        assert not out.exists()


# -- flip on the command line ----------------------------------------------------------------------------------
def test_eval_and_predict_flip_are_recorded_and_kept_apart(trained, tmp_path):
    import shutil

    import posekit

    run = run_dir(trained, "pretrain")
    run = Path(shutil.copytree(run, run.with_name(run.name + "-flip")))
    result = invoke(trained, "eval", str(run), "--data", "synth_tgt:test")
    assert result.exit_code == 0 and "flip test off" in result.output, result.output
    result = invoke(trained, "eval", str(run), "--data", "synth_tgt:test", "--flip")
    assert result.exit_code == 0 and "flip test on" in result.output, result.output
    plain = json.loads((run / "eval/synth_tgt-test.json").read_text())
    flipped = json.loads((run / "eval/synth_tgt-test-flip.json").read_text())
    assert plain["flip"] is False and flipped["flip"] is True
    predictor = posekit.load(run, device="cpu")
    ref = predictor.predict_split(trained / "data/synth_tgt/test.h5", flip=True)
    plain_pred = predictor.predict_split(trained / "data/synth_tgt/test.h5")
    assert np.abs(ref.keypoints - plain_pred.keypoints).max() > 0.01  # the flip changes the predictions
    from posekit.evaluation.evaluate import score_split

    assert flipped["groups"] == score_split(ref, trained / "data/synth_tgt/test.h5", 0.05, "bbox", 2)["groups"]
    result = invoke(trained, "eval", str(run), "--data", "synth_tgt:test", "--protocol", "legacy", "--flip")
    assert result.exit_code == 0 and (run / "eval/synth_tgt-test-legacy-flip.json").exists()

    paths = save_test_images(trained, "synth_tgt", tmp_path / "imgs", 2)
    result = invoke(trained, "predict", str(tmp_path / "imgs"), "-c", str(run), "--flip", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    pred = predictions(tmp_path / "o")
    assert pred["flip"] is True
    api = predictor.predict([str(p) for p in paths], flip=True)
    for got, record in zip(api, pred["images"]):
        assert np.abs(np.c_[got.people[0].keypoints, got.people[0].scores] - keypoints(record)).max() < 1e-3
