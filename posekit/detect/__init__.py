"""Person detectors that run offline, for ``posekit predict --detector NAME`` and ``Predictor.predict(...,
detector=NAME)``: each finds people in an ``[H,W,3]`` uint8 RGB image and returns person boxes (the box around the
person's joints, as ``prepare`` crops training images, so the predictor's ``margin`` gives the crop the network
expects), best score first, after a score threshold and non-maximum suppression.

Detectors are optional extras; :func:`load_detector` raises one ConfigError line naming the extra when its
package is missing. Recall and precision of each on LSPET and COCO photographs: docs/results.md (``bench/detectors.py``).
"""

from __future__ import annotations

from posekit.detect.base import DETECTORS, PersonDetector, load_detector

__all__ = ["DETECTORS", "PersonDetector", "load_detector"]
