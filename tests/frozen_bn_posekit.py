"""``python -m tests.frozen_bn_posekit ARGS`` is ``python -m posekit ARGS`` with every BatchNorm normalising by its
running statistics, frozen at their initial 0 and 1 (an affine layer), so that normalisation does not depend on how
a batch is split over processes.

tests/test_distributed.py uses it to compare one process with two on CPU, where torch has no SyncBatchNorm and each
process would otherwise normalise its own slice; on GPU, SyncBatchNorm gives the same independence.
"""

from __future__ import annotations

import runpy
import sys

import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm


def frozen_forward(self: _BatchNorm, x):
    return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


if __name__ == "__main__":
    _BatchNorm.forward = frozen_forward
    sys.argv[0] = "posekit"
    runpy.run_module("posekit", run_name="__main__", alter_sys=True)
