"""posekit: unsupervised domain-adaptive pose estimation.

The Python API (docs/api.md)::

    import posekit
    predictor = posekit.load("posekit-ws/runs/adapt/latest")
    poses = predictor.predict(["a.jpg", "b.jpg"], boxes=[[(10, 20, 200, 380)], None], flip=True)

Names are imported on first use, so ``import posekit`` (and the command line's start-up) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from posekit.version import __version__

__all__ = ["Detection", "ImagePoses", "PersonPose", "Predictor", "__version__", "load"]

_LAZY = {"load": "posekit.predictor", "Predictor": "posekit.predictor", "ImagePoses": "posekit.predictor",
         "PersonPose": "posekit.predictor", "Detection": "posekit.data.boxes"}

if TYPE_CHECKING:  # pragma: no cover
    from posekit.data.boxes import Detection
    from posekit.predictor import ImagePoses, PersonPose, Predictor, load


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'posekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
