"""The ``stylize`` stage: a cache of source images rendered in the target's style (image-level alignment)."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from posekit.config.schema import StylizeConfig
from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import paired_batches, step_batches, target_seed
from posekit.engine.checkpoint import checkpoint_header, load_checkpoint
from posekit.engine.device import pick_device
from posekit.engine.logging import console, labelled, make_progress
from posekit.engine.precision import FP32, Precision, resolve_amp
from posekit.engine.seed import seed_everything
from posekit.engine.trainer import Loop, Trainer
from posekit.errors import ConfigError
from posekit.faults import crash_point
from posekit.methods.adain_decoder import AdaINDecoderMethod
from posekit.models.adain import StyleTransfer
from posekit.stylize.cache import StyleCacheWriter
from posekit.stylize.methods import STYLIZERS
from posekit.stylize.weights import load_lite_encoder, load_sequential, load_torchvision_vgg
from posekit.version import __version__
from posekit.workspace import Workspace, atomic_write_bytes, atomic_write_json, now_iso

# the options that decide the decoder training (a killed training resumes only when they are unchanged)
DECODER_KEYS = ("encoder", "vgg", "source", "target", "seed", "decoder_steps", "decoder_batch")


def _params(opts: StylizeConfig, ws: Workspace) -> dict:
    """The cache's settings (its settings hash): the common ones and those of its method (file paths as text)."""
    p = {"source": opts.source, "target": opts.target, "method": opts.method, "variants": opts.variants,
         "alpha": list(opts.alpha), "seed": opts.seed,
         "source_data": ws.dataset_lineage(opts.source)["params_sha1"],
         "target_data": ws.dataset_lineage(opts.target)["params_sha1"]}
    for key in STYLIZERS.get(opts.method).keys:
        value = getattr(opts, key)
        p[key] = str(value) if key in ("vgg", "decoder") else value
    if opts.method == "adain":
        p.update(_adain_extras(opts))
    return p


def _adain_extras(opts: StylizeConfig) -> dict:
    """The AdaIN options added after caches existed, only where they differ from their defaults (so an older cache
    or decoder training with the defaults stays up to date)."""
    out = {}
    if opts.adain_space != "rgb":
        out["adain_space"] = opts.adain_space
    if opts.train_decoder and opts.decoder_style_weight != 0.1:
        out["decoder_style_weight"] = opts.decoder_style_weight
    return out


def _build_adain(opts: StylizeConfig, out_dir: Path, src: H5KeypointDataset, tgt: H5KeypointDataset,
                 device: torch.device, precision: Precision) -> tuple[StyleTransfer, dict]:
    net = StyleTransfer(opts.encoder, opts.adain_space)
    if opts.encoder == "vgg_normalised":
        enc_hash = load_sequential(net.encoder.net, opts.vgg, "VGG encoder (vgg_normalised)", strict_prefix=True)
    elif opts.encoder == "torchvision":
        enc_hash = load_torchvision_vgg(net.encoder.net)
    else:
        enc_hash = load_lite_encoder(net.encoder)
    net = net.to(device)
    if opts.train_decoder:
        console.print(f"training the AdaIN decoder for {opts.decoder_steps} steps "
                      f"(content + {opts.decoder_style_weight:g} × style, {opts.adain_space} input)")
        method = AdaINDecoderMethod(net, opts.decoder_style_weight, opts.seed)
        optimizer = torch.optim.Adam(net.decoder.parameters(), lr=1e-4)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
        run_dir = out_dir / "decoder_run"
        (run_dir / "ckpt").mkdir(parents=True, exist_ok=True)
        training = {**{k: str(getattr(opts, k)) for k in DECODER_KEYS},
                    **{k: str(v) for k, v in _adain_extras(opts).items()}}
        header = checkpoint_header("stylize", method.name, {"decoder_training": training})
        batches = lambda step: paired_batches(
            step_batches(src, opts.decoder_batch, opts.seed, step, 0, device),
            step_batches(tgt, opts.decoder_batch, target_seed(opts.seed), step, 0, device))
        loop = Loop(opts.decoder_steps, log_every=20, ckpt_every=max(1, min(100, opts.decoder_steps // 5)))
        trainer = Trainer(method, optimizer, scheduler, batches, run_dir, device, header, loop, precision=precision)
        last = run_dir / "ckpt" / "last.pt"
        previous = load_checkpoint(last) if last.exists() else None
        if previous is not None and previous.get("config") == header["config"]:
            trainer.load_full_state(previous)
            console.print(f"resuming the decoder training at step {trainer.state.step}/{opts.decoder_steps}")
        else:
            trainer.metrics.truncate_after(0)
        trainer.fit()
        buf = io.BytesIO()
        torch.save(net.decoder.state_dict(), buf)
        atomic_write_bytes(out_dir / "decoder.pt", buf.getvalue())
        dec_hash = hashlib.sha256(buf.getvalue()).hexdigest()
    else:
        dec_hash = load_sequential(net.decoder, opts.decoder, "AdaIN decoder")
    return net.eval(), {"encoder_sha256": enc_hash, "decoder_sha256": dec_hash}


def run_stylize(ws: Workspace, opts: StylizeConfig, force: bool) -> Path:
    stylizer = STYLIZERS.get(opts.method)
    if opts.alpha is None:  # the method's default α range
        opts = opts.model_copy(update={"alpha": stylizer.default_alpha})
    with ws.lock(f"styles/{opts.name or f'{opts.source}__{opts.target}'}"):
        return _stylize(ws, opts, force)


def _stylize(ws: Workspace, opts: StylizeConfig, force: bool) -> Path:
    stylizer = STYLIZERS.get(opts.method)
    lo, hi = opts.alpha
    _, _, src_path = ws.require_split(f"{opts.source}:train")
    _, _, tgt_path = ws.require_split(f"{opts.target}:train")
    src, tgt = H5KeypointDataset(src_path), H5KeypointDataset(tgt_path)
    name = opts.name or f"{opts.source}__{opts.target}"
    out_dir = ws.root / "styles" / name
    params = _params(opts, ws)
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists() and (out_dir / "cache.h5").exists():
        old = json.loads(manifest_path.read_text())
        if old.get("params_sha1") == digest and not force:
            console.print(f"style cache {out_dir} is up to date")
            return out_dir
        if old.get("params_sha1") != digest and not force:
            raise ConfigError(f"{out_dir} holds a cache made with other settings ({old.get('params')})",
                              hint="pass --force to rebuild it, or --name to write another cache")
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(opts.device)
    seed_everything(opts.seed)
    hashes: dict = {}
    net = None
    precision = resolve_amp(opts.amp, device, "adain") if stylizer.network else FP32
    if stylizer.network:
        console.print(f"style network: {precision.describe()}")
        net, hashes = _build_adain(opts, out_dir, src, tgt, device, precision)
    rng = np.random.default_rng(opts.seed)
    n, k = len(src), opts.variants
    h, w = src.image_size
    writer = StyleCacheWriter(out_dir / "cache.h5", n, k, (h, w), {
        "method": opts.method, "source": opts.source, "target": opts.target,
        "source_params_sha1": params["source_data"] or "", "params": json.dumps(params)})
    try:
        with make_progress() as progress, torch.no_grad():
            task = progress.add_task(f"stylize {opts.source}→{opts.target} ({opts.method})", total=n, info="")
            for start in range(0, n, opts.batch_size):
                idx = range(start, min(start + opts.batch_size, n))
                content = torch.stack([src[i]["image"] for i in idx]).to(device).float() / 255.0
                style_index = rng.integers(0, len(tgt), (len(idx), k))
                alpha = rng.uniform(lo, hi, (len(idx), k)).astype(np.float32)
                out = np.empty((len(idx), k, h, w, 3), np.uint8)
                for v in range(k):
                    style = torch.stack([tgt[int(j)]["image"] for j in style_index[:, v]]).to(device).float() / 255.0
                    if style.shape[-2:] != (h, w):
                        style = F.interpolate(style, size=(h, w), mode="bilinear", align_corners=False)
                    a = torch.from_numpy(alpha[:, v]).to(device)
                    with precision.autocast(device.type):  # float32 (FP32) unless the style network runs
                        styled = stylizer.apply(content, style, a, opts.beta, net)
                    out[:, v] = (styled * 255 + 0.5).clamp(0, 255).byte().permute(0, 2, 3, 1).cpu().numpy()
                writer.write(start, out, alpha, style_index)
                crash_point("stylize.chunk")
                progress.advance(task, len(idx))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    atomic_write_json(manifest_path, {
        "source": opts.source, "target": opts.target, "method": opts.method, "variants": k, "alpha": [lo, hi],
        "pairing": "each variant of each source image takes a uniformly random image of the target train split",
        "seed": opts.seed, "params": params, "params_sha1": digest, "num_samples": n, **hashes,
        **({"precision": precision.describe()} if stylizer.network else {}), "posekit_version": __version__, "created": now_iso(),
        "cache_file": "cache.h5", "cache_bytes": (out_dir / "cache.h5").stat().st_size,
    })
    console.print(labelled("done:", "green", f"{out_dir / 'cache.h5'} ({n} images × {k} variants, {opts.method})"))
    return out_dir
