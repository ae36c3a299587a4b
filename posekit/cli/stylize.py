"""``posekit stylize``: cache source images rendered in the target domain's style."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from posekit.cli import app
from posekit.cli._common import AMP_HELP, check_amp, check_device, handle_errors, workspace
from posekit.errors import ConfigError
from posekit.numbers import MAX_BATCH, MAX_STEPS, Bounds
from posekit.workspace import check_name


@app.command(short_help="Cache source images restyled toward the target (the image level).")
@handle_errors
def stylize(
    source: Annotated[str, typer.Option(help="prepared source dataset (its train split is stylised)")] = "synth_src",
    target: Annotated[str, typer.Option(help="prepared target dataset (its train split gives the styles)")] = "synth_tgt",
    method: Annotated[str, typer.Option(help="colour (channel statistics), fda (Fourier amplitude) or adain (a neural encoder + decoder)")] = "colour",
    variants: Annotated[int, typer.Option(help="stylised variants per source image, each with its own style and α"), Bounds(1, 1000, integer=True)] = 2,
    alpha: Annotated[tuple[float, float] | None, typer.Option(
        help="α range: 0 keeps the content, 1 is full style (default 0.5 1 for colour and fda, 0 1 for adain as in DAML)"), Bounds(0, 1)] = None,
    beta: Annotated[float, typer.Option(help="fda: size of the swapped low-frequency square (fraction of the side)"), Bounds(0, 0.5, hint='a fraction of the image side; 0.5 already swaps the whole amplitude spectrum (FDA uses 0.01–0.09)')] = 0.01,
    encoder: Annotated[str, typer.Option(help="adain: vgg_normalised (needs --vgg), torchvision (ImageNet VGG-19) or "
                                              "efficientnet_lite0 (posekit\\[weights]; needs --train-decoder or --decoder)")] = "vgg_normalised",
    vgg: Annotated[Path | None, typer.Option(help="adain: vgg_normalised.pth")] = None,
    decoder: Annotated[Path | None, typer.Option(help="adain: decoder.pth (pytorch-AdaIN layout)")] = None,
    train_decoder: Annotated[bool, typer.Option(help="adain: train the decoder on source+target instead of --decoder", metavar="")] = False,
    decoder_steps: Annotated[int, typer.Option(help="adain: decoder training steps"), Bounds(1, MAX_STEPS, integer=True)] = 2000,
    seed: Annotated[int, typer.Option(help="pairing and α seed"), Bounds(0, 2**32 - 1, integer=True)] = 0,
    batch_size: Annotated[int, typer.Option(help="source images stylised per batch"), Bounds(1, MAX_BATCH, integer=True)] = 64,
    name: Annotated[str | None, typer.Option(help="cache name under styles/ (default SOURCE__TARGET)")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N")] = "auto",
    amp: Annotated[str, typer.Option(help="adain: " + AMP_HELP)] = "auto",
    force: Annotated[bool, typer.Option(help="rebuild even if up to date or made with other settings", metavar="")] = False,
) -> None:
    """Write [bold]styles/<name>/cache.h5[/]: k stylised variants per source image (image-level alignment)."""
    from posekit.config.schema import StylizeConfig
    from posekit.stages.stylize import run_stylize

    for value, what in ((source, "--source"), (target, "--target"), (name, "--name")):
        if value is not None:
            check_name(value, what)
    if not (math.isfinite(beta) and 0 <= beta <= 0.5):
        raise ConfigError(f"--beta {beta} is outside [0, 0.5]",
                          hint="a fraction of the image side; 0.5 already swaps the whole amplitude spectrum (FDA "
                               "uses 0.01–0.09)")
    if decoder_steps < 1:
        raise ConfigError(f"--decoder-steps {decoder_steps} must be ≥ 1")
    check_device(device)
    check_amp(amp)

    opts = StylizeConfig(source=source, target=target, method=method, variants=variants, alpha=alpha, beta=beta,
                          encoder=encoder, vgg=vgg, decoder=decoder, train_decoder=train_decoder,
                          decoder_steps=decoder_steps, seed=seed, name=name, device=device,
                          batch_size=batch_size, amp=amp)
    run_stylize(workspace().require(), opts, force)
