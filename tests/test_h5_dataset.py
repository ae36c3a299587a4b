import functools
import multiprocessing
import operator

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from posekit.data.dataset import H5KeypointDataset, StepBatchSampler
from posekit.data.h5format import H5Writer, validate_h5
from posekit.data.meta import MPII16
from posekit.errors import DataError, MissingArtifactError


def _batch(n: int, size: int = 32, start: int = 0) -> dict:
    rng = np.random.default_rng(start)
    ramp = np.linspace(0, 1, size)
    colours = rng.uniform(0, 255, (n, 1, 1, 3))
    images = (colours * (0.5 + 0.5 * ramp[None, :, None, None] * ramp[None, None, :, None])).astype(np.uint8)
    kp = rng.uniform(0, size - 1, (n, 16, 3)).astype(np.float32)
    kp[..., 2] = 2
    return {"images": images, "keypoints": kp, "keypoints_orig": kp + 5, "affine": np.tile(np.eye(3)[:2], (n, 1, 1)),
            "bbox": np.tile([0, 0, size - 1, size - 1], (n, 1)), "orig_size": np.tile([size, size], (n, 1)),
            "source_id": np.array([f"img{start + i}" for i in range(n)], dtype=object)}


def _write(path, codec="raw", n=10):
    with H5Writer(path, MPII16, (32, 32), codec) as w:
        w.append(_batch(n // 2, start=0))
        w.append(_batch(n - n // 2, start=100))


@pytest.mark.parametrize("codec", ["raw", "png", "jpeg"])
def test_round_trip(tmp_path, codec):
    path = tmp_path / "x.h5"
    _write(path, codec)
    ds = H5KeypointDataset(path)
    assert len(ds) == 10 and ds.meta.names == MPII16.names
    item = ds[6]
    expected = _batch(5, start=100)
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.uint8
    assert torch.equal(item["keypoints"], torch.from_numpy(expected["keypoints"][1]))
    diff = (item["image"].permute(1, 2, 0).numpy().astype(int) - expected["images"][1]).__abs__().mean()
    assert diff == 0 if codec in ("raw", "png") else 0 < diff < 3  # JPEG is lossy


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "x.h5"
    with pytest.raises(ValueError), H5Writer(path, MPII16, (32, 32)) as w:
        w.append(_batch(3))
        bad = _batch(2)
        del bad["bbox"]
        w.append(bad)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_corrupt_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(MissingArtifactError):
        validate_h5(tmp_path / "none.h5")
    good = tmp_path / "good.h5"
    _write(good)
    truncated = tmp_path / "trunc.h5"
    truncated.write_bytes(good.read_bytes()[:4000])
    with pytest.raises(DataError, match="corrupt or truncated"):
        validate_h5(truncated)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match="not a posekit keypoint file"):
        validate_h5(foreign)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(DataError):
        validate_h5(text)


@pytest.mark.slow
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_dataloader_workers(tmp_path, start_method):
    path = tmp_path / "x.h5"
    _write(path, "png", n=12)
    ds = H5KeypointDataset(path)
    ds[0]  # open a handle in the parent first: workers must not reuse it
    loader = DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=multiprocessing.get_context(start_method))
    seen = torch.cat([b["index"] for b in loader])
    assert sorted(seen.tolist()) == list(range(12))
    kps = torch.cat([b["keypoints"] for b in loader])
    assert torch.equal(kps[0], ds[0]["keypoints"])


def test_step_sampler_is_a_function_of_the_step():
    full = StepBatchSampler(10, 3, seed=5)
    it = iter(full)
    batches = [next(it) for _ in range(7)]
    resumed = iter(StepBatchSampler(10, 3, seed=5, start_step=4))
    assert [next(resumed) for _ in range(3)] == batches[4:]
    epoch0 = functools.reduce(operator.iadd, batches[:3], [])
    assert len(set(epoch0)) == 9  # no repeats within an epoch
    assert batches[:3] != batches[3:6]  # epochs are reshuffled
