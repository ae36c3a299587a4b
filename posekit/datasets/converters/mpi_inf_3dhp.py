"""``prepare mpi_inf_3dhp``: MPI-INF-3DHP (Mehta et al., 3DV 2017) as processed by MMPose's
``preprocess_mpi_inf_3dhp.py``.

Annotation ``.npz`` files as for ``h36m``: ``imgname`` [N] (``S4_Seq2_Cam0_001033.jpg`` for training frames,
``TS1_002001.jpg`` for test frames, relative to the image root), ``part`` [N,17,3] (pixels, flag 1 = inside the
frame) and ``S`` [N,17,4] (camera coordinates in **metres**). Camera parameters come from the ``cameras*.pkl``
beside the annotation file (``cameras_train.pkl`` keyed ``S4_Seq2_Cam0``, ``cameras_test.pkl`` keyed ``TS1``: the
image name without its frame number); only ``f`` and ``c`` are used (the test intrinsics are MMPose's
least-squares fits). The pinhole projection of ``keypoints3d`` lands within ≈ 2 px of ``keypoints_orig``.

The 17 MPI-INF-3DHP joints (head top, neck, right shoulder … left ankle, pelvis, spine, head) are reordered into
``h36m17`` by ``MPI3DHP_TO_H36M17``, the usual cross-dataset correspondence: neck → thorax, head → upper_neck,
head top → head_top (the spine and neck joints sit a little differently on the two skeletons).
Joints outside the frame (flag 0) get v = 0; their 3D coordinates are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from posekit.datasets.converters.base import CONVERTERS
from posekit.datasets.converters.h36m import Body3DConverter

MPI3DHP_TO_H36M17 = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)


@CONVERTERS.register("mpi_inf_3dhp")
class MpiInf3dhpConverter(Body3DConverter):
    """One output split per ``--ann-file`` (default: MMPose's train file and its valid-frame test file)."""

    name = "mpi_inf_3dhp"
    description = "MPI-INF-3DHP in MMPose's preprocessed form: 17 joints → h36m17, 2D + 3D camera metres"
    source = ("https://vcai.mpi-inf.mpg.de/3dhp-dataset/ (download script after accepting the licence), processed by "
              "MMPose's tools/dataset_converters/preprocess_mpi_inf_3dhp.py")
    licence = "MPI-INF-3DHP licence (non-commercial research; see its README); cite Mehta et al., 3DV 2017"
    layout = ("RAW/annotations/mpi_inf_3dhp_train.npz, mpi_inf_3dhp_test_valid.npz (--ann-file SPLIT=PATH), "
              "RAW/annotations/cameras_train.pkl, cameras_test.pkl, RAW/images/*.jpg (--image-root)")
    ann_files: ClassVar[dict[str, str]] = {"train": "annotations/mpi_inf_3dhp_train.npz",
                                           "test": "annotations/mpi_inf_3dhp_test_valid.npz"}
    order = MPI3DHP_TO_H36M17
    note = ("MPI-INF-3DHP joints reordered into h36m17 (neck → thorax, head → upper_neck); pinhole projection of "
            "keypoints3d lands within a few pixels of keypoints_orig")

    def camera_key(self, name: str, where: str) -> Any:
        return Path(name).name.rsplit("_", 1)[0]
