import argparse

import pytest
import torch

from posekit.engine.checkpoint import load_checkpoint, save_checkpoint
from posekit.errors import CheckpointError, MissingArtifactError


def test_round_trip_with_weights_only(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"stage": "pretrain", "model": {"w": torch.ones(2)}, "config": {"a": [1, 2]},
                           "rng": {"python": (3, tuple(range(5)), None)}})
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "posekit.ckpt" and raw["version"] == 1
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "posekit.ckpt", "version": 1, "args": argparse.Namespace(lr=1)}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)


def test_foreign_truncated_and_missing(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a posekit checkpoint"):
        load_checkpoint(foreign)
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(1000)}})
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(trunc)
    with pytest.raises(MissingArtifactError):
        load_checkpoint(tmp_path / "nope.pt")
