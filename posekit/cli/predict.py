"""``posekit predict``: keypoints and overlays for image and video files, from a run or a checkpoint file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from posekit.cli import app
from posekit.cli._common import AMP_HELP, check_amp, check_device, handle_errors, workspace
from posekit.engine.logging import console, results
from posekit.errors import ConfigError
from posekit.numbers import MAX_BATCH, Bounds

if TYPE_CHECKING:  # importing posekit.stages loads every training stage; the command imports it when it runs
    from posekit.stages.predict_common import PredictRequest, VideoOptions

SHOWN_ROWS = 20


@app.command("predict", short_help="Keypoints for image or video files, in original pixels; JSON + overlays.")
@handle_errors
def predict(
    images: Annotated[list[str], typer.Argument(
        help="image files, directories (the images inside) or glob patterns; or video files (.mp4, .mov, …)")],
    checkpoint: Annotated[str, typer.Option(
        "--checkpoint", "-c", help="run (dir, STAGE/RUN_ID, STAGE/NAME, STAGE/latest, latest: its ckpt/final.pt) or a .pt file")],
    box: Annotated[str | None, typer.Option(
        help="person box x0,y0,x1,y1 in original pixels, used for every image or frame (default: the whole image)")] = None,
    boxes: Annotated[Path | None, typer.Option(
        help="COCO-style detections or annotations JSON: any number of person boxes per image (docs/cli.md)")] = None,
    detector: Annotated[str | None, typer.Option(
        help="find the people with a detector: blazepose (posekit\\[detect-blazepose]) or hog (posekit\\[detect]); "
             "--box and --boxes take priority")] = None,
    min_score: Annotated[float | None, typer.Option(
        help="with --boxes or --detector: leave out boxes scored below this (default: 0 for --boxes, the "
             "detector's own otherwise)"), Bounds(0, 1e6, hint='a detector score: COCO detections score in [0, 1]')] = None,
    nms_iou: Annotated[float, typer.Option(help="with --detector: drop a box overlapping a better one by more than "
                                                "this IoU"), Bounds(0, 1)] = 0.45,
    category: Annotated[int | None, typer.Option(help="with --boxes: keep only this category_id (COCO person: 1)"), Bounds(0, 2**31 - 1, integer=True)] = None,
    margin: Annotated[float | None, typer.Option(help="with --box, --boxes or --detector: crop side = margin × the "
                                                      "box's longer side (default: 1.25)"), Bounds(0, 100, lo_open=True, hint='1.0 crops exactly the box\'s longer side')] = None,
    flip: Annotated[bool, typer.Option(help="flip test: average the heatmaps with the mirrored crop's", metavar="")] = False,
    stride: Annotated[int, typer.Option(help="video: predict every N-th frame"), Bounds(1, 1_000_000, integer=True)] = 1,
    start: Annotated[int, typer.Option(help="video: first frame (0-based)"), Bounds(0, 10**9, integer=True)] = 0,
    end: Annotated[int | None, typer.Option(help="video: stop before this frame (default: the last)"), Bounds(1, 10**9, integer=True)] = None,
    track: Annotated[str, typer.Option(help="video: follow people across frames by box overlap (iou), by "
                                            "keypoints, or not (none)")] = "iou",
    smooth: Annotated[bool, typer.Option(help="video: smooth each track's joints with a One-Euro filter",
                                         metavar="")] = False,
    smooth_cutoff: Annotated[float, typer.Option(help="with --smooth: minimum cut-off frequency, Hz (lower: "
                                                      "smoother)"), Bounds(0, 1000, lo_open=True)] = 1.0,
    smooth_beta: Annotated[float, typer.Option(help="with --smooth: speed coefficient, per person size per second "
                                                    "(higher: less lag)"), Bounds(0, 1000)] = 2.0,
    weights: Annotated[str, typer.Option(help="auto (teacher when present), teacher or student")] = "auto",
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for predictions.json and <stem>_overlay.png (images)"
                                                          " or <stem>_keypoints.jsonl, _overlay.mp4, _video.json "
                                                          "(videos)")] = Path("posekit-predict"),
    batch_size: Annotated[int, typer.Option(help="images or frames per forward pass"), Bounds(1, MAX_BATCH, integer=True)] = 16,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    amp: Annotated[str, typer.Option(help=AMP_HELP)] = "auto",
) -> None:
    """Predict keypoints in original pixels: each image (or each person box of --box / --boxes / --detector, enlarged
    by --margin) is cut to a square, resized to the network input and decoded with sub-pixel refinement. Images:
    writes predictions.json (per image, one entry per person) and one overlay PNG per image into --out. Videos:
    writes per video the keypoints of each frame as JSON Lines, an overlay video and a summary JSON, with people
    tracked across frames. Nothing is written if any input is bad."""
    from posekit.data.video import is_video
    from posekit.stages.predict import parse_box
    from posekit.stages.predict_common import PredictRequest, VideoOptions

    if weights not in ("auto", "teacher", "student"):
        raise ConfigError(f"unknown --weights {weights!r}", hint="use auto, teacher or student")
    if batch_size < 1:
        raise ConfigError("--batch-size must be ≥ 1")
    if margin is not None and box is None and boxes is None and detector is None:
        raise ConfigError("--margin applies only with --box, --boxes or --detector",
                          hint="give person boxes with --box x0,y0,x1,y1, --boxes FILE or --detector NAME, or drop "
                               "--margin (without boxes the whole image is used)")
    margin = 1.25 if margin is None else margin
    if not math.isfinite(margin) or margin <= 0:
        raise ConfigError(f"--margin must be a finite number > 0, got {margin}", hint="1.0 crops exactly the box's "
                                                                                   "longer side")
    if box and boxes:
        raise ConfigError("--box and --boxes both give person boxes", hint="use --box for one box for every image, "
                                                                          "--boxes FILE for boxes per image")
    if not boxes and ((min_score is not None and not detector) or category is not None):
        raise ConfigError("--min-score and --category filter the boxes of --boxes FILE (--min-score also those of "
                          "--detector)", hint="add --boxes FILE, or --detector NAME for --min-score")
    check_device(device)
    check_amp(amp)
    found = None
    if detector is not None:
        if box or boxes:
            console.print(f"--detector {detector} not run: {'--box' if box else '--boxes'} gives the boxes",
                          highlight=False)
        else:
            from posekit.detect import load_detector

            found = load_detector(detector, min_score=min_score, nms_iou=nms_iou)
    if not smooth and (smooth_cutoff, smooth_beta) != (1.0, 2.0):
        raise ConfigError("--smooth-cutoff and --smooth-beta tune the filter of --smooth", hint="add --smooth")
    videos = [Path(i) for i in images if is_video(i)]
    if videos:
        if len(videos) != len(images):
            raise ConfigError("images and videos in one call", hint="predict videos and images in separate calls")
        if boxes:
            raise ConfigError("--boxes gives boxes per image file, not per video frame",
                              hint="use --box x0,y0,x1,y1 for every frame, or --detector NAME")
        request = PredictRequest(checkpoint, out, weights, parse_box(box) if box else None, detector=found,
                                 margin=margin, flip=flip, batch_size=batch_size, device=device, amp=amp)
        return predict_videos(videos, request, VideoOptions(stride, start, end, None if track == "none" else track,
                                                            smooth, smooth_cutoff, smooth_beta))
    if (stride, start, end, track, smooth) != (1, 0, None, "iou", False):
        raise ConfigError("--stride, --start, --end, --track and --smooth apply to videos",
                          hint="pass video files (.mp4, .mov, …), or drop those options")
    predict_images(images, PredictRequest(checkpoint, out, weights, parse_box(box) if box else None, boxes,
                                          min_score or 0.0, category, found, margin, flip, batch_size, device, amp))


def predict_images(images: list[str], request: PredictRequest) -> None:
    from rich.table import Table

    from posekit.inference import weights_note
    from posekit.stages.predict import run_predict

    result = run_predict(workspace(), images, request)
    flip, out = request.flip, request.out

    table = Table(title=f"{len(result['images'])} image(s): keypoints in original pixels"
                        + (" (flip test)" if flip else ""), title_justify="left")
    for column, justify in (("image", "left"), ("size", "right"), ("people", "right"), ("crop region", "right"),
                            ("mean score", "right"), ("overlay", "left")):
        table.add_column(column, justify=justify)
    for r in result["images"][:SHOWN_ROWS]:
        people = r["people"]
        region = ",".join(f"{v:g}" for v in people[0]["crop_region"]) if len(people) == 1 else ""
        scores = [k[2] for person in people for k in person["keypoints"]]
        mean = f"{sum(scores) / len(scores):.3f}" if scores else "—"
        table.add_row(Path(r["file"]).name, f"{r['width']}×{r['height']}", str(len(people)), region, mean, r["overlay"])
    if len(result["images"]) > SHOWN_ROWS:
        table.add_row(f"… {len(result['images']) - SHOWN_ROWS} more", "", "", "", "", "")
    results.print(table)
    results.print(f"{result['checkpoint']}: {weights_note(result['weights'])}, step {result['step']}, selected by "
                  f"{result['selected_by']}", highlight=False)
    if result["selected_by"] == "oracle":
        console.print("ORACLE: these weights were selected on target test labels", style="bold red")
    console.print(f"wrote {out / 'predictions.json'} and {len(result['images'])} overlay(s) in {out}", highlight=False)


def predict_videos(videos: list[Path], request: PredictRequest, options: VideoOptions) -> None:
    from rich.table import Table

    from posekit.inference import weights_note
    from posekit.stages.predict_video import run_predict_video

    summaries = run_predict_video(workspace(), videos, request, options)
    flip, smooth, out = request.flip, options.smooth, request.out
    table = Table(title=f"{len(summaries)} video(s): keypoints per frame in original pixels"
                        + (" (flip test)" if flip else "") + (", smoothed" if smooth else ""), title_justify="left")
    for column, justify in (("video", "left"), ("size", "right"), ("frames", "right"), ("people", "right"),
                            ("tracks", "right"), ("frames/s", "right"), ("keypoints", "left"), ("overlay", "left")):
        table.add_column(column, justify=justify)
    for r in summaries:
        table.add_row(Path(r["video"]).name, f"{r['width']}×{r['height']}", str(r["frames"]), str(r["people"]),
                      str(r["tracks"]), f"{r['frames_per_second']:.1f}", r["keypoints"], r["overlay"] or "—")
    results.print(table)
    first = summaries[0]
    results.print(f"{first['checkpoint']}: {weights_note(first['weights'])}, step {first['step']}, selected by "
                  f"{first['selected_by']}", highlight=False)
    if first["selected_by"] == "oracle":
        console.print("ORACLE: these weights were selected on target test labels", style="bold red")
    console.print(f"wrote {len(summaries)} × (_keypoints.jsonl, _overlay.mp4, _video.json) in {out}", highlight=False)
