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
