"""The root joint(s) a skeleton's 3D poses are made relative to (for root-relative depth and MPJPE)."""

from __future__ import annotations

from posekit.data.meta import ROOT_JOINTS, KeypointMeta
from posekit.errors import DataError


def root_joints(meta: KeypointMeta) -> tuple[int, ...]:
    """Indices whose mean is the root: ``meta.ROOT_JOINTS`` for the built-in skeletons (human16: the two hips;
    hand21: the wrist; h36m17: the pelvis), else a joint named pelvis or root."""
    if meta.name in ROOT_JOINTS:
        return ROOT_JOINTS[meta.name]
    for name in ("pelvis", "root"):
        if name in meta.names:
            return (meta.names.index(name),)
    raise DataError(f"skeleton {meta.name} has no root joint for 3D poses",
                    hint="3D training and metrics need a pelvis/root joint or an entry in posekit.data.meta.ROOT_JOINTS")
