"""End-to-end CLI chain and what users see on bad input."""

from __future__ import annotations

import json
import math

import h5py
import pytest
import torch
from typer.testing import CliRunner

from posekit.cli import app
from tests.conftest import TINY_PREPARE, TINY_TRAIN

runner = CliRunner()


def invoke(ws, *args):
    return runner.invoke(app, ["-w", str(ws), *args])


def test_prepare_is_a_noop_when_up_to_date_and_refuses_other_settings(ws_copy):
    before = (ws_copy / "data/synth_src/train.h5").stat().st_mtime_ns
    result = invoke(ws_copy, *TINY_PREPARE[:-2])
    assert result.exit_code == 0 and "up to date" in result.output
    assert (ws_copy / "data/synth_src/train.h5").stat().st_mtime_ns == before
    result = invoke(ws_copy, *TINY_PREPARE[:-2], "--seed", "3")
    assert result.exit_code == 2 and "--force" in result.output
    with h5py.File(ws_copy / "data/synth_tgt/test.h5") as f:
        assert f.attrs["labels_for"] == "evaluation only"
        assert f["keypoints3d"].shape == (16, 16, 3) and f["masks"].shape == (16, 64, 64)


def test_pretrain_then_eval_writes_artifacts(ws_copy):
    result = invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=3", "--set", "train.select=source_val")
    assert result.exit_code == 0, result.output
    run = next((ws_copy / "runs/pretrain").glob("*-supervised"))
    assert (ws_copy / "runs/pretrain/latest").read_text().strip() == run.name
    for name in ("config.yaml", "env.json", "lineage.json", "metrics.jsonl", "ckpt/last.pt", "ckpt/best.pt", "ckpt/final.pt"):
        assert (run / name).exists(), name
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines if "loss/loss" in x] == [1, 2, 3]
    final = torch.load(run / "ckpt/final.pt", weights_only=True)
    assert final["selected_by"] == "source_val" and final["config"]["train"]["steps"] == 3

    result = invoke(ws_copy, "eval", "--data", "synth_src:test", "--data", "synth_tgt:test")
    assert result.exit_code == 0, result.output
    assert "Sld" in result.output and "synth_tgt:test" in result.output
    report = json.loads((run / "eval/synth_tgt-test.json").read_text())
    assert report["protocol"] == "standard" and report["weights"].startswith("model") and report["threshold"] == 0.05
    assert set(report["groups"]) == {"Sld", "Elb", "Wrist", "Hip", "Knee", "Ankle", "All"}
    per_joint = report["per_joint"]  # groups are means of their joints' accuracies, All of the 12 limb joints'
    assert report["groups"]["Sld"] == pytest.approx((per_joint["left_shoulder"] + per_joint["right_shoulder"]) / 2)
    limbs = [per_joint[f"{side}_{j}"] for side in ("left", "right")
             for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")]
    assert report["groups"]["All"] == pytest.approx(sum(limbs) / 12)

    result = invoke(ws_copy, "eval", "--data", "synth_tgt:test", "--protocol", "legacy")
    assert result.exit_code == 0 and "LEGACY" in result.output
    assert json.loads((run / "eval/synth_tgt-test-legacy.json").read_text())["protocol"] == "legacy"

    result = invoke(ws_copy, "eval", "--data", "synth_tgt:test", "--metric", "pck@0.2", "--normalize", "image")
    assert result.exit_code == 0, result.output
    wider = json.loads((run / "eval/synth_tgt-test-pck0.2-image.json").read_text())
    assert wider["threshold"] == 0.2 and wider["groups"]["All"] >= report["groups"]["All"]
    assert json.loads((run / "eval/synth_tgt-test.json").read_text()) == report  # the PCK@0.05 result is kept

    result = invoke(ws_copy, "ckpt", "inspect", str(run / "ckpt/last.pt"))
    assert result.exit_code == 0 and "pretrain" in result.output and "optim" in result.output


@pytest.mark.slow
def test_resume_after_interruption_matches_an_uninterrupted_run(ws_copy, monkeypatch):
    from posekit.methods.supervised import SupervisedMethod

    args = [*TINY_TRAIN, "--set", "train.steps=5", "--set", "train.ckpt_every=2"]
    assert invoke(ws_copy, "pretrain", *args, "--name", "full").exit_code == 0

    original = SupervisedMethod.losses

    def crash_at_step_3(self, batch, step):
        if step == 3:
            raise KeyboardInterrupt  # as if killed after the step-2 checkpoint and one more step
        return original(self, batch, step)

    monkeypatch.setattr(SupervisedMethod, "losses", crash_at_step_3)
    result = invoke(ws_copy, "pretrain", *args, "--name", "cut")
    assert result.exit_code == 130 and "interrupted" in result.output
    cut = next((ws_copy / "runs/pretrain").glob("*-cut"))
    assert torch.load(cut / "ckpt/last.pt", weights_only=True)["step"] == 2
    assert not (cut / "ckpt/final.pt").exists()
    monkeypatch.setattr(SupervisedMethod, "losses", original)

    result = invoke(ws_copy, "pretrain", "--resume", str(cut))
    assert result.exit_code == 0, result.output
    full = next((ws_copy / "runs/pretrain").glob("*-full"))
    a = torch.load(full / "ckpt/final.pt", weights_only=True)["model"]
    b = torch.load(cut / "ckpt/final.pt", weights_only=True)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    steps = [json.loads(x)["step"] for x in (cut / "metrics.jsonl").read_text().splitlines()]
    assert steps == [json.loads(x)["step"] for x in (full / "metrics.jsonl").read_text().splitlines()]


def test_bad_inputs_give_one_line_errors_and_exit_codes(ws_copy, tmp_path):
    cases = []
    result = runner.invoke(app, ["-w", str(tmp_path / "nowhere"), "eval"])
    cases.append((result, 3, "no posekit workspace"))
    cases.append((invoke(ws_copy, "prepare", "synthtic"), 2, "did you mean 'synthetic'"))
    cases.append((invoke(ws_copy, "pretrain", "--set", "train.setps=3"), 2, "did you mean train.steps"))
    cases.append((invoke(ws_copy, "pretrain", "--source", "nope"), 3, "no prepared dataset 'nope'"))
    cases.append((invoke(ws_copy, "eval", "--data", "synth_tgt:test"), 3, "no finished runs"))
    (ws_copy / "data/synth_tgt/test.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    cases.append((invoke(ws_copy, "pretrain", "--source", "synth_tgt", "--set", "data.train_split=test"), 4,
                  "corrupt or truncated"))
    cases.append((invoke(ws_copy, "eval", "--metric", "pck@x"), 2, "unknown metric"))
    (ws_copy / "data/synth_src/val.h5").write_bytes((ws_copy / "data/synth_src/val.h5").read_bytes()[:5000])
    cases.append((invoke(ws_copy, "pretrain", *TINY_TRAIN), 4, "val.h5: corrupt or truncated"))
    for result, code, fragment in cases:
        assert result.exit_code == code, (fragment, result.output)
        assert fragment in result.output, result.output
        assert "Traceback" not in result.output
    assert not (ws_copy / "runs").exists()  # no failed command left a run directory behind


ADAPT = ["--set", "data.num_workers=0", "--set", "train.batch_size=8", "--set", "train.log_every=1",
         "--set", "train.ckpt_every=2", "--set", "occlusion.size=2", "--set", "occlusion.threshold=0.0"]


def test_stylize_adapt_eval_chain(ws_copy):
    assert invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=2").exit_code == 0
    result = invoke(ws_copy, "stylize", "--method", "fda", "--variants", "2")
    assert result.exit_code == 0, result.output
    cache = ws_copy / "styles/synth_src__synth_tgt"
    with h5py.File(cache / "cache.h5") as f:
        assert f["images"].shape == (48, 2, 64, 64, 3) and f.attrs["method"] == "fda"
        assert ((f["alpha"][...] >= 0.5) & (f["alpha"][...] <= 1.0)).all()
    manifest = json.loads((cache / "manifest.json").read_text())
    assert manifest["params"]["beta"] == 0.01 and manifest["num_samples"] == 48
    assert "up to date" in invoke(ws_copy, "stylize", "--method", "fda", "--variants", "2").output
    assert invoke(ws_copy, "stylize", "--method", "colour").exit_code == 2  # other settings without --force

    result = invoke(ws_copy, "adapt", *ADAPT, "--steps", "3", "--set", "train.select=source_val")
    assert result.exit_code == 0, result.output
    run = next((ws_copy / "runs/adapt").glob("*-multilevel"))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/loss" in x]
    assert {"loss/sup", "loss/cons", "loss/adv", "loss/im"} <= set(lines[-1])
    final = torch.load(run / "ckpt/final.pt", weights_only=True)
    assert final["stage"] == "adapt" and final["teacher"] is not None and final["selected_by"] == "source_val"
    assert final["config"]["model"]["width"] == 0.25 and final["config"]["data"]["input_size"] == 64
    result = invoke(ws_copy, "eval", "adapt/latest", "--data", "synth_tgt:test")
    assert result.exit_code == 0 and "adapt:multilevel (teacher)" in result.output

    # every level switched off: a source-only continuation with the same loop
    off = ["--set", "style.enabled=false", "--set", "consistency.enabled=false", "--set", "adversarial.enabled=false",
           "--set", "infomax.enabled=false", "--set", "occlusion.enabled=false"]
    result = invoke(ws_copy, "adapt", *ADAPT, *off, "--steps", "2", "--name", "off")
    assert result.exit_code == 0, result.output
    run = next((ws_copy / "runs/adapt").glob("*-off"))
    last = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/loss" in x][-1]
    assert "loss/cons" not in last and last["loss/loss"] == last["loss/sup"]

    oracle = invoke(ws_copy, "adapt", *ADAPT, "--steps", "2", "--select", "oracle",
                    "--set", "train.oracle_data=synth_tgt:test", "--name", "oracle")
    assert oracle.exit_code == 0 and "ORACLE" in oracle.output
    run = next((ws_copy / "runs/adapt").glob("*-oracle"))
    result = invoke(ws_copy, "eval", str(run), "--data", "synth_tgt:test")
    assert "ORACLE" in result.output
    assert json.loads((run / "eval/synth_tgt-test.json").read_text())["warning"].startswith("ORACLE")


def test_adapt_demo_runs_the_codes_pieces_and_needs_the_pretrain_optimiser(ws_copy):
    """adapt_demo (daml_code at CPU scale): crop, the code's occlusion round trip and the pretraining Adam continued. The
    adaptation's first optimiser state is the pretrain run's; without ckpt/last.pt the run is refused clearly."""
    assert invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=2").exit_code == 0
    assert invoke(ws_copy, "stylize", "--method", "colour").exit_code == 0
    pre = next((ws_copy / "runs/pretrain").glob("*-supervised"))
    demo = ["-c", "adapt_demo", *ADAPT, "--steps", "2"]
    result = invoke(ws_copy, "adapt", *demo, "--set", "train.ckpt_every=1", "--name", "demo")
    assert result.exit_code == 0, result.output
    run = next((ws_copy / "runs/adapt").glob("*-demo"))
    cfg = torch.load(run / "ckpt/final.pt", weights_only=True)["config"]
    assert cfg["occlusion"]["geometry"] == "warps" and cfg["data"]["targets"] == "code" and cfg["optim"]["state"] == "pretrain"
    step2 = torch.load(run / "ckpt/last.pt", weights_only=True)["optim"]["state"][0]["step"]
    assert float(step2) == 2 + 2  # two pretraining steps, then two of adaptation on the same Adam
    (pre / "ckpt/last.pt").unlink()
    result = invoke(ws_copy, "adapt", *demo, "--name", "refused")
    assert result.exit_code == 4 and "optim.state=pretrain" in result.output and "optim.state=fresh" in result.output
    assert "Traceback" not in result.output and not list((ws_copy / "runs/adapt").glob("*-refused"))
    assert invoke(ws_copy, "adapt", *demo, "--set", "optim.state=fresh", "--name", "fresh").exit_code == 0


def test_adapt_refuses_evaluation_splits_and_style_less_runs_without_cache(ws_copy):
    assert invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=1").exit_code == 0
    result = invoke(ws_copy, "adapt", *ADAPT, "--set", "data.target_split=test", "--set", "style.enabled=false")
    assert result.exit_code == 2 and "evaluation split" in result.output
    result = invoke(ws_copy, "adapt", *ADAPT)
    assert result.exit_code == 3 and "posekit stylize" in result.output


@pytest.mark.slow
def test_adapt_resume_after_interruption_matches_an_uninterrupted_run(ws_copy, monkeypatch):
    from posekit.methods.multilevel import MultiLevelMethod

    assert invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=2").exit_code == 0
    assert invoke(ws_copy, "stylize", "--method", "colour").exit_code == 0
    args = [*ADAPT, "--steps", "5"]
    assert invoke(ws_copy, "adapt", *args, "--name", "full").exit_code == 0
    original = MultiLevelMethod.losses

    def crash_at_step_3(self, batch, step):
        if step == 3:
            raise KeyboardInterrupt
        return original(self, batch, step)

    monkeypatch.setattr(MultiLevelMethod, "losses", crash_at_step_3)
    assert invoke(ws_copy, "adapt", *args, "--name", "cut").exit_code == 130
    monkeypatch.setattr(MultiLevelMethod, "losses", original)
    cut = next((ws_copy / "runs/adapt").glob("*-cut"))
    result = invoke(ws_copy, "adapt", "--resume", "adapt/latest")  # the newest resumable run: the interrupted one
    assert result.exit_code == 0, result.output
    full = next((ws_copy / "runs/adapt").glob("*-full"))
    a = torch.load(full / "ckpt/final.pt", weights_only=True)
    b = torch.load(cut / "ckpt/final.pt", weights_only=True)
    for part in ("model", "teacher"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)


def test_non_finite_loss_stops_the_run_naming_the_term(ws_copy, monkeypatch):
    from posekit.methods.supervised import SupervisedMethod

    original = SupervisedMethod.losses

    def nan_at_step_3(self, batch, step):
        out = original(self, batch, step)
        if step == 3:
            out["heatmap"] = out["heatmap"] * float("nan")
            out["loss"] = out["heatmap"]
        return out

    monkeypatch.setattr(SupervisedMethod, "losses", nan_at_step_3)
    result = invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=6", "--name", "nan")
    assert result.exit_code == 1
    assert "non-finite loss term loss, heatmap at step 3" in result.output and "Traceback" not in result.output
    run = next((ws_copy / "runs/pretrain").glob("*-nan"))
    assert torch.load(run / "ckpt/last.pt", weights_only=True)["step"] == 2  # the last good checkpoint stays
    assert not (run / "ckpt/final.pt").exists() and not (ws_copy / "runs/pretrain/latest").exists()


def test_channels_last_and_compile_train_the_same_network(ws_copy):
    """The GPU options run on a CPU too: NHWC memory format and torch.compile (the eager backend here, to keep
    the test fast) give the same first losses as the plain run, and checkpoints keep their keys. In float32
    (train.amp=off): bf16's rounding differs between the layouts by more than these tolerances."""
    def first_losses(name: str, *sets: str) -> tuple[list[float], dict]:
        args = [x for s in ("train.amp=off", *sets) for x in ("--set", s)]
        result = invoke(ws_copy, "pretrain", *TINY_TRAIN, "--set", "train.steps=2", *args, "--name", name)
        assert result.exit_code == 0, result.output
        run = next((ws_copy / "runs/pretrain").glob(f"*-{name}"))
        lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        return [x["loss/loss"] for x in lines if "loss/loss" in x], torch.load(run / "ckpt/final.pt", weights_only=True)

    plain, plain_ckpt = first_losses("plain", "train.channels_last=false")
    nhwc, nhwc_ckpt = first_losses("nhwc")  # the default
    compiled, compiled_ckpt = first_losses("compiled", "train.channels_last=false", "train.compile=default",
                                           "train.compile_backend=eager")
    assert nhwc == pytest.approx(plain, rel=1e-4) and compiled == pytest.approx(plain, rel=1e-6)
    assert plain_ckpt["model"].keys() == nhwc_ckpt["model"].keys() == compiled_ckpt["model"].keys()
    assert nhwc_ckpt["model"]["backbone.stem.0.weight"].is_contiguous(memory_format=torch.channels_last)
    assert not plain_ckpt["model"]["backbone.stem.0.weight"].is_contiguous(memory_format=torch.channels_last)


def test_pretrain_and_adapt_steps_run_under_bf16_autocast(ws_copy):
    """train.amp=bf16 on a CPU: CPU autocast casts matrix products and convolutions to bf16 as CUDA's does, so dtype
    errors inside the step show here (not all: CPU autocast runs `linalg.inv` in float32 itself, which CUDA's does
    not; tests/test_augment.py checks that the geometry never sees bf16). Losses stay finite and close to the
    float32 run's (train.amp=off), and env.json says which precision ran and on which CPU."""

    def first_losses(name: str, *extra: str) -> list[float]:
        result = invoke(ws_copy, *extra, "--name", name)
        assert result.exit_code == 0, result.output
        run = next(ws_copy.glob(f"runs/*/*-{name}"))
        env = json.loads((run / "env.json").read_text())
        amp = extra[extra.index("--set") + 1:][-1].split("=")[1]
        assert env["precision"] == {"off": "fp32", "bf16": "bf16"}[amp] and env["reason"].startswith(
            "off" if amp == "off" else "asked")
        assert set(env["cpu"]) == {"model", "capability", "amx", "avx512_bf16"}
        return [json.loads(x)["loss/loss"] for x in (run / "metrics.jsonl").read_text().splitlines() if "loss/loss" in x]

    pretrain = ["pretrain", *TINY_TRAIN, "--set", "train.steps=2"]
    adapt = ["adapt", *ADAPT, "--steps", "2", "--set", "style.enabled=false"]
    off, bf16 = ["--set", "train.amp=off"], ["--set", "train.amp=bf16"]
    fp32 = first_losses("fp32", *pretrain, *off) + first_losses("fp32-adapt", *adapt, *off)
    bf16 = first_losses("bf16", *pretrain, *bf16) + first_losses("bf16-adapt", *adapt, *bf16)
    assert len(bf16) == 4 and all(map(math.isfinite, bf16))
    assert bf16 == pytest.approx(fp32, rel=0.1) and bf16 != fp32


def test_pending_losses_are_read_in_order_and_stop_at_the_first_non_finite_step(tmp_path):
    from posekit.engine.trainer import PendingLosses
    from posekit.errors import TrainingDiverged

    pending = PendingLosses()
    for step in range(3):
        pending.add(step, {"loss": torch.tensor(step + 0.5), "sup": torch.tensor(2.0 * step)})
    assert pending.read(tmp_path / "last.pt") == [{"loss": 0.5, "sup": 0.0}, {"loss": 1.5, "sup": 2.0},
                                                   {"loss": 2.5, "sup": 4.0}]
    assert pending.read(tmp_path / "last.pt") == []  # read once
    for step, (a, b) in enumerate([(1.0, 1.0), (float("inf"), 1.0), (float("nan"), float("nan"))], start=3):
        pending.add(step, {"loss": torch.tensor(a), "sup": torch.tensor(b)})
    with pytest.raises(TrainingDiverged, match="non-finite loss term loss at step 4"):
        pending.read(tmp_path / "last.pt")


def test_stylize_adain_trains_a_decoder_and_reports_missing_weights(ws_copy, tmp_path, monkeypatch):
    import torchvision

    from posekit.models.adain import vgg_normalised

    result = invoke(ws_copy, "stylize", "--method", "adain", "--vgg", str(tmp_path / "vgg_normalised.pth"))
    assert result.exit_code == 3 and "vgg_normalised.pth" in result.output and "pytorch-AdaIN" in result.output

    def offline(self, *args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(torchvision.models._api.WeightsEnum, "get_state_dict", offline)
    result = invoke(ws_copy, "stylize", "--method", "adain", "--encoder", "torchvision", "--train-decoder")
    assert result.exit_code == 3 and "vgg19-dcbb9e9d.pth" in result.output

    vgg = tmp_path / "vgg_normalised.pth"
    torch.save(vgg_normalised().state_dict(), vgg)  # random weights in the published layout
    result = invoke(ws_copy, "stylize", "--method", "adain", "--vgg", str(vgg), "--train-decoder",
                    "--decoder-steps", "2", "--variants", "1")
    assert result.exit_code == 0, result.output
    out = ws_copy / "styles/synth_src__synth_tgt"
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["encoder_sha256"]) == 64 and len(manifest["decoder_sha256"]) == 64
    decoder_state = torch.load(out / "decoder.pt", weights_only=True)
    assert "1.weight" in decoder_state  # pytorch-AdaIN's key layout, reusable with --decoder
    with h5py.File(out / "cache.h5") as f:
        assert f["images"].shape == (48, 1, 64, 64, 3) and f.attrs["method"] == "adain"
        alpha = f["alpha"][...]
    assert manifest["alpha"] == [0.0, 1.0] and alpha.min() < 0.25 and alpha.max() > 0.75  # AdaIN: DAML's U(0, 1)


def test_a_second_writer_of_the_same_dataset_is_refused(ws_copy):
    from posekit.workspace import Workspace

    with Workspace(ws_copy).lock("data/synth_src"):
        result = invoke(ws_copy, *TINY_PREPARE)
    assert result.exit_code == 5 and "data/synth_src" in result.output and "being written by pid" in result.output
    assert invoke(ws_copy, *TINY_PREPARE).exit_code == 0  # released


def test_resuming_a_finished_run_changes_nothing_and_leaves_latest_alone(trained, tmp_path):
    """A finished run is final: `--resume` of an older finished run neither rewrites its final.pt nor points
    `latest` back at it (the next adapt, eval and predict would silently use old weights)."""
    import shutil

    ws = tmp_path / "ws"
    shutil.copytree(trained, ws)
    old = next((ws / "runs/pretrain").glob("*-supervised"))
    result = invoke(ws, "pretrain", *TINY_TRAIN, "--set", "train.steps=2", "--name", "newer")
    assert result.exit_code == 0, result.output
    newer = (ws / "runs/pretrain/latest").read_text().strip()
    assert newer != old.name
    final = old / "ckpt" / "final.pt"
    before = (final.read_bytes(), final.stat().st_mtime_ns)
    result = invoke(ws, "pretrain", "--resume", str(old))
    assert result.exit_code == 0, result.output
    assert "finished" in result.output and "nothing to resume" in result.output
    assert (final.read_bytes(), final.stat().st_mtime_ns) == before
    assert (ws / "runs/pretrain/latest").read_text().strip() == newer
