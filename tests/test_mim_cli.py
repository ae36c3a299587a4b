"""Both stages of the MIM method through the CLI, 3D evaluation, resume, and a tiny model that learns."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from posekit.cli import app

runner = CliRunner()
TINY_VIT = ["--set", "data.input_size=32", "--set", "data.num_workers=0", "--set", "model.patch_size=8",
            "--set", "model.dim=32", "--set", "model.depth=2", "--set", "model.heads=2",
            "--set", "model.head_channels=16", "--set", "train.log_every=1", "--set", "train.ckpt_every=2"]
TINY_MAE = [*TINY_VIT, "--set", "mae.decoder_dim=16", "--set", "mae.decoder_depth=1", "--set", "mae.decoder_heads=2",
            "--set", "train.batch_size=8"]


def invoke(ws, *args):
    return runner.invoke(app, ["-w", str(ws), *args])


def losses(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/loss" in x]


def hand_floor_mpjpe(ws):
    """MPJPE (mm) of synth_src:train's mean hip-rooted pose on synth_tgt:test, by loops over the raw arrays."""
    import h5py
    import numpy as np

    def arrays(split):
        with h5py.File(ws / "data" / split, "r") as f:
            return f["keypoints3d"][()].astype(np.float64), f["keypoints_orig"][:, :, 2] >= 1

    src, src_vis = arrays("synth_src/train.h5")
    sums, counts = np.zeros((16, 3)), np.zeros(16)
    for joints, vis in zip(src, src_vis):
        root = (joints[2] + joints[3]) / 2  # human16: the hips' midpoint
        for k in range(16):
            if vis[k]:
                sums[k] += joints[k] - root
                counts[k] += 1
    mean = sums / counts[:, None]
    mean_root = (mean[2] + mean[3]) / 2
    errors = []
    for joints, vis in zip(*arrays("synth_tgt/test.h5")):
        root = (joints[2] + joints[3]) / 2
        errors += [np.linalg.norm((mean[k] - mean_root) - (joints[k] - root)) for k in range(16) if vis[k]]
    return 1000 * float(np.mean(errors))


def test_mae_pretrain_then_mim_fine_tune_then_3d_eval(ws_copy):
    result = invoke(ws_copy, "pretrain", "--method", "mae", *TINY_MAE, "--steps", "3")
    assert result.exit_code == 0, result.output
    assert "foreground masks → weighted reconstruction" in result.output
    mae = next((ws_copy / "runs/pretrain").glob("*-mae"))
    assert [x["step"] for x in losses(mae)] == [1, 2, 3]
    ckpt = torch.load(mae / "ckpt/final.pt", weights_only=True)
    assert ckpt["method"] == "mae" and any(k.startswith("decoder.") for k in ckpt["model"])

    result = invoke(ws_copy, "eval", str(mae), "--data", "synth_tgt:test")
    assert result.exit_code == 4 and "has no keypoint head" in result.output and "Traceback" not in result.output
    result = invoke(ws_copy, "report", str(mae), "--num", "3")
    assert result.exit_code == 0, result.output
    assert {"curves.png", "reconstructions_synth_src-test.png", "reconstructions_synth_tgt-test.png",
            "report.html"} <= {p.name for p in (mae / "report").iterdir()}

    result = invoke(ws_copy, "adapt", "--method", "mim", *TINY_VIT, "--set", "train.batch_size=4", "--steps", "3")
    assert result.exit_code == 0, result.output
    run = next((ws_copy / "runs/adapt").glob("*-mim"))
    assert {"loss/heatmap", "loss/depth", "loss/attention"} <= set(losses(run)[0])
    init = torch.load(mae / "ckpt/final.pt", weights_only=True)["model"]
    start = torch.load(run / "ckpt/last.pt", weights_only=True)["method_state"]
    # the auxiliary network is the MAE encoder, frozen: still equal after fine-tuning
    assert torch.equal(start["aux.blocks.0.attn.qkv.weight"], init["encoder.blocks.0.attn.qkv.weight"])

    result = invoke(ws_copy, "eval", str(run), "--data", "synth_tgt:test", "--metric", "mpjpe")
    assert result.exit_code == 0, result.output
    report = json.loads((run / "eval/synth_tgt-test-mpjpe.json").read_text())
    assert report["unit"] == "mm" and report["value"] > 0 and report["groups"]["All"] == report["value"]
    assert set(report["summary"]) == {"mpjpe", "pa-mpjpe", "pck3d@150", "auc"}
    assert report["summary"]["pa-mpjpe"] <= report["summary"]["mpjpe"]
    assert "ground-truth root depth" in report["coordinate_space"]
    # beside it, the mean-pose floor: synth_src:train's mean root-relative pose, scored the same way
    floor = report["mean_pose_floor"]
    assert floor["source"] == "synth_src:train" and "mean-pose floor" in result.output
    assert floor["value"] == pytest.approx(hand_floor_mpjpe(ws_copy), rel=1e-5)
    assert set(floor["summary"]) == set(report["summary"]) and floor["groups"]["All"] == floor["value"]

    result = invoke(ws_copy, "report", str(run), "--num", "2")
    assert result.exit_code == 0, result.output
    md = (run / "report/report.md").read_text()
    row = next(line for line in md.splitlines() if "synth_tgt-test-mpjpe.json" in line)
    assert "| mpjpe |" in row and f"| {report['value']:.1f} |" in row  # the eval result, in mm

    for metric in ("pck3d@150", "auc@20:50", "pck@0.05"):
        result = invoke(ws_copy, "eval", str(run), "--data", "synth_tgt:test", "--metric", metric)
        assert result.exit_code == 0, result.output
    result = invoke(ws_copy, "eval", "--data", "synth_tgt:test", "--metric", "pck3d@")
    assert result.exit_code == 2 and "unknown 3D metric" in result.output


def test_scratch_baseline_needs_no_mae_run_and_2d_models_refuse_3d_metrics(ws_copy):
    result = invoke(ws_copy, "adapt", "--method", "mim", "--init", "scratch", *TINY_VIT,
                    "--set", "attention.enabled=false", "--set", "train.batch_size=4", "--steps", "2")
    assert result.exit_code == 0, result.output
    assert "no attention term" in result.output
    lineage = json.loads(next((ws_copy / "runs/adapt").glob("*-mim")).joinpath("lineage.json").read_text())
    assert lineage["init"]["checkpoint"] == "scratch" and lineage["target"] is None

    result = invoke(ws_copy, "pretrain", "--set", "data.input_size=64", "--set", "model.backbone=resnet18",
                    "--set", "model.width=0.25", "--set", "train.batch_size=8", "--set", "data.num_workers=0",
                    "--steps", "1")
    assert result.exit_code == 0, result.output
    result = invoke(ws_copy, "eval", "pretrain/latest", "--data", "synth_tgt:test", "--metric", "mpjpe")
    assert result.exit_code == 2 and "needs a 3D model" in result.output


@pytest.mark.slow
def test_mae_and_mim_killed_and_resumed_equal_uninterrupted_runs(ws_copy):
    from tests.test_faults import killed, posekit

    for stage, args in (("pretrain", ["pretrain", "--method", "mae", *TINY_MAE, "--steps", "4"]),
                        ("adapt", ["adapt", "--method", "mim", *TINY_VIT, "--set", "train.batch_size=4",
                                   "--steps", "4"])):
        proc = posekit(ws_copy, *args, "--name", "whole")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert killed(posekit(ws_copy, *args, "--name", "cut", crash="train.step:3"))
        cut = next((ws_copy / "runs" / stage).glob("*-cut"))
        proc = posekit(ws_copy, stage, "--resume", str(cut))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        whole = next((ws_copy / "runs" / stage).glob("*-whole"))
        a = torch.load(whole / "ckpt/final.pt", weights_only=True)["model"]
        b = torch.load(cut / "ckpt/final.pt", weights_only=True)["model"]
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), stage
        if stage == "pretrain":  # the fine-tuning below starts from the resumed MAE run
            (ws_copy / "runs/pretrain/latest").write_text(cut.name)


@pytest.mark.slow
def test_a_tiny_vit_fits_eight_samples_in_both_2d_and_depth(tiny_ws):
    from posekit.config.schema import AugmentConfig
    from posekit.config.schema_mim import MIMAdaptConfig, ViTConfig
    from posekit.data.codec import HeatmapCodec
    from posekit.data.dataset import H5KeypointDataset
    from posekit.data.roots import root_joints
    from posekit.methods.mim import MIMMethod
    from posekit.models.factory import build_vitpose

    torch.manual_seed(0)
    ds = H5KeypointDataset(tiny_ws / "data/synth_src/train.h5", with_3d=True)
    batch = torch.utils.data.default_collate([ds[i] for i in range(8)])
    still = AugmentConfig(rotation=0, scale=(1, 1), translate=0, flip=0, colour=0)
    cfg = MIMAdaptConfig(model=ViTConfig(patch_size=8, dim=32, depth=2, heads=2, head_channels=16),
                         data={"input_size": 32}, augment=still, attention={"enabled": False})
    model = build_vitpose(cfg.model, ds.meta.num_joints)
    method = MIMMethod(model, HeatmapCodec(32, 8, 1.0), cfg, ds.meta, root_joints(ds.meta), 0)
    opt = torch.optim.AdamW(model.parameters(), 2e-3)
    first = None
    for step in range(150):
        out = method.losses(batch, step)
        first = first or {k: v.item() for k, v in out.items()}
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    assert out["depth"].item() < 0.2 * first["depth"]
    assert out["heatmap"].item() < 0.5 * first["heatmap"]
