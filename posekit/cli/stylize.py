"""``posekit stylize``: cache source images rendered in the target domain's style."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import AMP_HELP, check_amp, check_device, handle_errors, workspace
from posekit.numbers import MAX_BATCH, MAX_STEPS, Bounds


@app.command(short_help="Cache source images restyled toward the target (the image level).")
@handle_errors
def stylize(
    source: Annotated[str | None, typer.Option(help="prepared source dataset, its train split is stylised (default: synth_src)")] = None,
    target: Annotated[str | None, typer.Option(help="prepared target dataset, its train split gives the styles (default: synth_tgt)")] = None,
    method: Annotated[str | None, typer.Option(help="colour (channel statistics), fda (Fourier amplitude) or adain (a neural encoder + decoder) (default: colour; `posekit list stylizers`)")] = None,
    variants: Annotated[int | None, typer.Option(help="stylised variants per source image, each with its own style and α (default: 2)"), Bounds(1, 1000, integer=True)] = None,
    alpha: Annotated[tuple[float, float] | None, typer.Option(
        help="α range: 0 keeps the content, 1 is full style (default 0.5 1 for colour and fda, 0 1 for adain as in DAML)"), Bounds(0, 1)] = None,
    beta: Annotated[float | None, typer.Option(help="fda: size of the swapped low-frequency square (fraction of the side) (default: 0.01)"), Bounds(0, 0.5, hint='a fraction of the image side; 0.5 already swaps the whole amplitude spectrum (FDA uses 0.01–0.09)')] = None,
    encoder: Annotated[str | None, typer.Option(help="adain: vgg_normalised (needs --vgg), torchvision (ImageNet VGG-19) or "
                                                     "efficientnet_lite0 (posekit\\[weights]; needs --train-decoder or --decoder) (default: vgg_normalised)")] = None,
    vgg: Annotated[Path | None, typer.Option(help="adain: vgg_normalised.pth")] = None,
    decoder: Annotated[Path | None, typer.Option(help="adain: decoder.pth (pytorch-AdaIN layout)")] = None,
    train_decoder: Annotated[bool | None, typer.Option("--train-decoder", help="adain: train the decoder on source+target instead of --decoder", metavar="")] = None,
    decoder_steps: Annotated[int | None, typer.Option(help="adain: decoder training steps (default: 2000)"), Bounds(1, MAX_STEPS, integer=True)] = None,
    decoder_style_weight: Annotated[float | None, typer.Option(help="adain --train-decoder: w of content + w × style (default: 0.1, UDAPE's README command; its script's default is 1.0)"), Bounds(0, 1000)] = None,
    adain_space: Annotated[str | None, typer.Option(help="adain: rgb (images in \\[0, 1], pytorch-AdaIN) or imagenet (ImageNet-normalised tensors, DAML's code; vgg_normalised only) (default: rgb)")] = None,
    seed: Annotated[int | None, typer.Option(help="pairing and α seed (default: 0)"), Bounds(0, 2**32 - 1, integer=True)] = None,
    batch_size: Annotated[int | None, typer.Option(help="source images stylised per batch (default: 64)"), Bounds(1, MAX_BATCH, integer=True)] = None,
    name: Annotated[str | None, typer.Option(help="cache name under styles/ (default SOURCE__TARGET)")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: auto)")] = None,
    amp: Annotated[str | None, typer.Option(help="adain: " + AMP_HELP)] = None,
    config: Annotated[str | None, typer.Option("--config", "-c", help="a preset (stage: stylize) or YAML file of these options; the flags override it (`posekit config show stylize --explain` lists the keys)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key, e.g. --set decoder_batch=4 (repeatable)")] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if up to date or made with other settings", metavar="")] = False,
) -> None:
    """Write [bold]styles/<name>/cache.h5[/]: k stylised variants per source image (image-level alignment)."""
    from posekit.config.load import resolve_config
    from posekit.config.schema import StylizeConfig
    from posekit.stages.stylize import run_stylize

    if device is not None:
        check_device(device)
    if amp is not None:
        check_amp(amp)
    flags = {"source": source, "target": target, "method": method, "variants": variants, "alpha": alpha,
             "beta": beta, "encoder": encoder, "vgg": vgg, "decoder": decoder, "train_decoder": train_decoder,
             "decoder_steps": decoder_steps, "decoder_style_weight": decoder_style_weight, "adain_space": adain_space,
             "seed": seed, "name": name, "device": device, "batch_size": batch_size,
             "amp": amp}
    opts = resolve_config(StylizeConfig, config, set_, flags, stage="stylize")
    run_stylize(workspace().require(), opts, force)
