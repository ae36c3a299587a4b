"""train.snapshot_every keeps the inference weights of chosen steps; eval --checkpoint step-N scores one."""

import json
import shutil

import torch
from typer.testing import CliRunner

from posekit.cli import app


def test_snapshots_are_the_weights_of_their_step_and_eval_scores_them(trained, tmp_path):
    ws = tmp_path / "ws"
    shutil.copytree(trained, ws)
    runner = CliRunner()
    base = ["-w", str(ws), "adapt", "--set", "data.num_workers=0", "--set", "train.batch_size=8",
            "--set", "style.enabled=false", "--set", "train.ckpt_every=1"]
    result = runner.invoke(app, [*base, "--set", "train.snapshot_every=2", "--steps", "4", "--name", "snap"])
    assert result.exit_code == 0, result.output
    run = ws / "runs" / "adapt" / "snap"
    run = run if run.is_dir() else next((ws / "runs" / "adapt").glob("*snap*"))
    assert sorted(p.name for p in (run / "ckpt").glob("step-*.pt")) == ["step-000002.pt", "step-000004.pt"]
    four = torch.load(run / "ckpt" / "step-000004.pt", weights_only=False)
    final = torch.load(run / "ckpt" / "final.pt", weights_only=False)
    assert four["step"] == 4 and four["selected_by"] == "step"
    for key in ("model", "teacher"):  # the last snapshot holds the final (last-step) weights
        assert all(torch.equal(four[key][k], final[key][k]) for k in final[key])
    two = torch.load(run / "ckpt" / "step-000002.pt", weights_only=False)
    assert any(not torch.equal(two["teacher"][k], four["teacher"][k]) for k in four["teacher"])

    result = runner.invoke(app, ["-w", str(ws), "eval", str(run), "--checkpoint", "step-2",
                                 "--data", "synth_tgt:test"])
    assert result.exit_code == 0, result.output
    out = run / "eval" / "synth_tgt-test-step-000002.json"
    assert out.is_file(), sorted(p.name for p in (run / "eval").iterdir())
    assert json.loads(out.read_text())["checkpoint"].endswith("step-000002.pt")
    missing = runner.invoke(app, ["-w", str(ws), "eval", str(run), "--checkpoint", "step-3", "--data", "synth_tgt:test"])
    assert missing.exit_code != 0 and "step-000003.pt" in missing.output


def test_the_trajectory_bench_scores_each_snapshot_as_eval_does(trained, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    ws = tmp_path / "ws"
    shutil.copytree(trained, ws)
    runner = CliRunner()
    result = runner.invoke(app, ["-w", str(ws), "adapt", "--set", "data.num_workers=0", "--set", "train.batch_size=8",
                                 "--set", "style.enabled=false", "--set", "train.snapshot_every=1", "--steps", "2",
                                 "--name", "traj"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["-w", str(ws), "eval", "adapt/traj", "--data", "synth_tgt:test"])
    assert result.exit_code == 0, result.output
    run = ws / "runs" / "adapt" / (ws / "runs" / "adapt" / "latest").read_text().strip()
    final = json.loads((run / "eval" / "synth_tgt-test.json").read_text())
    bench = Path(__file__).parents[1] / "bench" / "adapt_trajectory.py"
    out = subprocess.run([sys.executable, str(bench), "--workspace", str(ws), "--run", "adapt/traj",
                          "--data", "synth_tgt:test", "--out", f"test-trajectory-{tmp_path.name}"],
                         capture_output=True, text=True, check=False)
    for suffix in (".json", ".md"):
        (bench.parent / "results" / f"test-trajectory-{tmp_path.name}{suffix}").unlink(missing_ok=True)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("| ") and not line.startswith("| step")]
    assert [line.split(" | ")[0] for line in lines] == ["| 0", "| 1", "| 2"]  # init, then each snapshot
    # the last snapshot is the final weights: its @0.05 All is eval's, to the table's rounding
    assert abs(float(lines[-1].split(" | ")[1]) - 100 * final["groups"]["All"]) <= 0.05 + 1e-9
