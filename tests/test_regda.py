"""adapt --method regda: tllib's loss forms on hand-made tensors, the three updates of a step, and the command line
(a few steps, resume after a kill, eval / predict / report of the run)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from posekit.config.schema_regda import RegDAConfig
from posekit.data.codec import HeatmapCodec
from posekit.data.meta import MPII16
from posekit.losses.regda import heatmap_kl, pseudo_labels, scale_gradient, warm_start_coefficient
from posekit.methods.regda import RegDAMethod
from posekit.models.pose_net import SoftmaxPoseNet
from tests.test_faults import assert_same_weights, killed, no_temporaries, posekit
from tests.test_predict_report import invoke, run_dir

REGDA = ["adapt", "--method", "regda", "--set", "data.num_workers=0", "--set", "train.batch_size=8",
         "--set", "train.log_every=1", "--set", "train.ckpt_every=2", "--set", "train.val_every=2", "--steps", "4"]


# -- loss forms --------------------------------------------------------------------------------------------------
def test_pseudo_labels_are_gaussians_at_the_argmax_and_the_other_joints():
    logits = torch.full((1, 3, 12, 12), -5.0)
    peaks = [(2, 3), (8, 9), (3, 3)]  # (x, y); joints 0 and 2 are a pixel apart
    for k, (x, y) in enumerate(peaks):
        logits[0, k, y, x] = 1.0
    truth, false = pseudo_labels(logits, sigma=1.0)
    assert truth.shape == false.shape == (1, 3, 12, 12)
    assert truth[0, 0, 3, 2] == 1.0 and math.isclose(truth[0, 0, 3, 3], math.exp(-0.5), rel_tol=1e-6)
    assert math.isclose(truth[0, 0, 5, 4], math.exp(-8 / 2), rel_tol=1e-5)  # dx = dy = 2: d² = 8
    assert truth[0, 0, 3, 5] > 0 and truth[0, 0, 3, 6] == 0  # cut at |dx| ≤ 3σ
    assert truth[0, 0, 7, 2] == 0  # |dy| = 4 > 3σ
    assert torch.allclose(false[0, 1], (truth[0, 0] + truth[0, 2]).clamp(max=1.0))
    assert torch.allclose(false[0, 0], (truth[0, 1] + truth[0, 2]).clamp(max=1.0))
    assert false[0, 1].max() == 1.0 and (truth[0, 0] + truth[0, 2]).max() > 1.5  # the sum is clipped to 1
    assert false[0, 0, 3, 2] > 0.5  # joint 0's ground false covers joint 2's peak next to it


def test_heatmap_kl_is_the_kl_of_normalised_maps():
    target = torch.zeros(2, 2, 4, 4)
    target[0, 0, 1, 2] = 1.0
    target[0, 1] = torch.rand(4, 4, generator=torch.Generator().manual_seed(0))
    target[1, 0, 3, 3] = 2.0  # normalised: the scale of a target does not matter
    logits = torch.zeros(2, 2, 4, 4)  # uniform: KL(one-hot ‖ uniform) = log 16
    kl_each = heatmap_kl(logits, target, torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    assert math.isclose(kl_each.item(), (math.log(16) * 2) / 4, rel_tol=1e-5)
    p = target[0, 1] / target[0, 1].sum()
    exact = heatmap_kl(torch.log(p)[None, None] + 3.0, target[0:1, 1:2])  # logits of the target itself (+ a shift)
    assert abs(exact.item()) < 1e-6
    assert heatmap_kl(logits, torch.zeros(2, 2, 4, 4), torch.zeros(2, 2)).item() == 0.0  # unlabelled: 0, not NaN
    smoothed = heatmap_kl(logits[:1, :1], torch.zeros(1, 1, 4, 4), epsilon=1e-7)  # ε alone: uniform target
    assert abs(smoothed.item()) < 1e-6
    logits.requires_grad_(True)
    heatmap_kl(logits, target).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_warm_start_gradient_rises_from_lo_to_hi_and_scales_gradients():
    assert warm_start_coefficient(0, 0.0, 0.1, 1.0, 1000) == 0.0
    assert math.isclose(warm_start_coefficient(1000, 0.0, 0.1, 1.0, 1000), 0.2 / (1 + math.exp(-1)) - 0.1)
    assert math.isclose(warm_start_coefficient(10**6, 0.0, 0.1, 1.0, 1000), 0.1, rel_tol=1e-6)
    x = torch.ones(3, requires_grad=True)
    (scale_gradient(x, 0.25) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(x.grad, torch.tensor([0.25, 0.5, 0.75]))


# -- the three updates of one step ------------------------------------------------------------------------------
def test_a_step_updates_everything_then_the_adversarial_head_then_the_features():
    torch.manual_seed(0)
    net = SoftmaxPoseNet(16, "resnet18", 0.25, 32)
    method = RegDAMethod(net, HeatmapCodec(64, 16, 1.0), RegDAConfig(), MPII16, seed=0)
    features, head, adv = method.param_groups()
    optimizer = torch.optim.SGD([{"params": features}, {"params": head}, {"params": adv}], lr=0.1, momentum=0.9)
    kinds = {id(p): name for name, group in (("features", features), ("head", head), ("adv", adv)) for p in group}
    calls = []

    def record_step(*args, **kwargs):
        calls.append({kinds[id(p)] for group in optimizer.param_groups for p in group["params"] if p.grad is not None})

    optimizer.step = record_step
    g = torch.Generator().manual_seed(0)
    kp = torch.cat([torch.rand(4, 16, 2, generator=g) * 48 + 8, torch.full((4, 16, 1), 2.0)], -1)
    batch = {"image": torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8, generator=g), "keypoints": kp,
             "target_image": torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8, generator=g)}
    losses = method.train_step(batch, 5, optimizer, lambda: torch.autocast("cpu", enabled=False))
    assert calls == [{"features", "head", "adv"}, {"adv"}, {"features"}]
    assert set(losses) == {"loss", "sup", "src_disparity", "tgt_false", "tgt_truth"}
    assert all(torch.isfinite(v) for v in losses.values())
    total = losses["sup"] + 4 * losses["src_disparity"] + losses["tgt_false"] + losses["tgt_truth"]
    assert torch.isclose(losses["loss"], total)
    out = net.eval()(torch.zeros(1, 3, 64, 64))
    assert torch.allclose(out["heatmaps"].sum((2, 3)), torch.ones(1, 16))  # spatial softmax per joint


# -- the command line --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def regda_ws(trained, tmp_path_factory) -> Path:
    """A copy of the trained workspace with an uninterrupted 4-step RegDA run named "full"."""
    ws = tmp_path_factory.mktemp("regda") / "ws"
    shutil.copytree(trained, ws)
    proc = posekit(ws, *REGDA, "--name", "full")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return ws


@pytest.mark.slow
def test_regda_runs_from_the_command_line_and_eval_predict_report_load_it(regda_ws, tmp_path):
    run = run_dir(regda_ws, "adapt")
    assert run.name.endswith("-full")
    final = torch.load(run / "ckpt/final.pt", weights_only=True)
    assert final["method"] == "regda" and final["architecture"] == "simplebaseline_softmax"
    assert final["teacher"] is None and any(k.startswith("head.final.3.") for k in final["model"])
    last = torch.load(run / "ckpt/last.pt", weights_only=True)
    assert any(k.startswith("adv_head.") for k in last["method_state"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "loss/loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    assert all(math.isfinite(r[f"loss/{k}"]) for r in train for k in ("sup", "src_disparity", "tgt_false", "tgt_truth"))
    assert [r["step"] for r in rows if r.get("split") == "source_val"] == [2, 4]
    pre = torch.load(run_dir(regda_ws, "pretrain") / "ckpt/final.pt", weights_only=True)["model"]
    fresh = SoftmaxPoseNet(16, "resnet18", 0.25, 64).state_dict()
    for key in ("backbone.stem.0.weight", "backbone.layer4.1.conv2.weight"):  # they start from the pretrain run
        moved = (final["model"][key] - pre[key]).norm()
        assert 0 < moved < 0.1 * (fresh[key] - pre[key]).norm(), key

    result = invoke(regda_ws, "eval", "adapt/latest", "--data", "synth_tgt:test", "--flip")
    assert result.exit_code == 0, result.output
    record = json.loads((run / "eval/synth_tgt-test-flip.json").read_text())
    assert record["weights"].startswith("model") and record["flip"] is True and 0 <= record["groups"]["All"] <= 1
    import posekit

    predictor = posekit.load(run, device="cpu")
    poses = predictor.predict(np.zeros((50, 70, 3), np.uint8), boxes=[(5, 5, 40, 45)])
    assert poses.people[0].keypoints.shape == (16, 2) and (poses.people[0].scores <= 1).all()
    result = invoke(regda_ws, "report", "adapt/latest", "--num", "2")
    assert result.exit_code == 0, result.output
    assert "regda" in (run / "report/report.md").read_text()
    result = invoke(regda_ws, "list", "methods")
    assert result.exit_code == 0 and "regda" in result.output and "RegDAConfig" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["train.step:3", "write last.pt:2"])
def test_regda_killed_and_resumed_equals_an_uninterrupted_run(regda_ws, tmp_path, crash):
    ws = tmp_path / "ws"
    shutil.copytree(regda_ws, ws)
    assert killed(posekit(ws, *REGDA, "--name", "cut", crash=crash))
    cut = next((ws / "runs/adapt").glob("*-cut"))
    proc = posekit(ws, "adapt", "--resume", str(cut))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    full = next((ws / "runs/adapt").glob("*-full"))
    assert_same_weights(full / "ckpt/final.pt", cut / "ckpt/final.pt")
    assert_same_weights(full / "ckpt/last.pt", cut / "ckpt/last.pt", ("method_state",))  # the adversarial head too
    assert no_temporaries(cut) == []


def test_regda_refuses_a_style_section_and_names_the_key(regda_ws):
    result = invoke(regda_ws, "adapt", "--method", "regda", "--set", "style.enabled=false")
    assert result.exit_code == 2 and "style" in result.output and "Traceback" not in result.output
