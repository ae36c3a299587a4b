"""What the adaptation builders that start from a supervised pretrain run share (multi-level alignment, RegDA):
the init checkpoint, the source and target datasets and their checks, paired batches, validation and selection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from posekit.config.schema import AdaptConfig, ModelConfig
from posekit.data.dataset import H5KeypointDataset
from posekit.data.loaders import domain_batches
from posekit.engine import distributed
from posekit.engine.checkpoint import load_checkpoint
from posekit.errors import CheckpointError, ConfigError, DataError
from posekit.evaluation.evaluate import SELECT_METRIC, split_scorer
from posekit.stages.template import RunBuilder
from posekit.stylize.cache import StyledSourceDataset, validate_cache
from posekit.workspace import Workspace


def resolve_init(ws: Workspace, cfg: AdaptConfig) -> tuple[AdaptConfig, dict, Path]:
    """Load the init checkpoint and fill ``model``, ``data.input_size`` and ``data.sigma`` from it."""
    path = ws.resolve_checkpoint(cfg.init or "pretrain/latest", "final")
    init = load_checkpoint(path)
    if init.get("stage") != "pretrain":
        raise CheckpointError(f"{path}: --init must be a pretrain run (this checkpoint is from {init.get('stage')!r})",
                              hint="pass --init pretrain/latest, pretrain/RUN_ID or a pretrain run's directory")
    icfg = init["config"]
    model = ModelConfig.model_validate(icfg["model"])
    if cfg.model is not None and cfg.model != model:
        raise ConfigError("model settings differ from the init checkpoint's", hint="drop the model.* overrides")
    for key in ("input_size", "sigma"):
        mine = getattr(cfg.data, key)
        if mine is not None and mine != icfg["data"][key]:
            raise ConfigError(f"data.{key}={mine} differs from the init checkpoint's {icfg['data'][key]}",
                              hint=f"drop --set data.{key}")
    data = cfg.data.model_copy(update={"input_size": icfg["data"]["input_size"], "sigma": icfg["data"]["sigma"]})
    return cfg.model_copy(update={"model": model, "data": data, "init": str(path)}), init, path


class AdaptFromPretrain(RunBuilder):
    """A (stage adapt, method) builder whose network starts from a supervised pretrain run and trains on source
    labels and unlabelled target images (subclasses add the method, its optimiser and its panel)."""

    cfg: AdaptConfig

    def uses_target(self) -> bool:
        return True

    def check(self) -> None:
        if self.resume is None:
            self.cfg, self.init, self.init_path = resolve_init(self.ws, self.cfg)
        else:  # weights come from the run's last checkpoint, or from the init when it was killed before one
            self.init_path = Path(self.cfg.init)
            self.init = None if (self.resume / "ckpt" / "last.pt").exists() else load_checkpoint(self.init_path)
        d, t = self.cfg.data, self.cfg.train
        _, _, src_path = self.ws.require_split(f"{d.source}:{d.train_split}")
        _, _, tgt_path = self.ws.require_split(f"{d.target}:{d.target_split}")
        val_path = self.ws.require_split(f"{d.source}:{d.val_split}")[2] if d.val_split else None
        oracle_path = None
        if t.select == "oracle":
            if not t.oracle_data:
                raise ConfigError("train.select=oracle needs train.oracle_data=DATASET:SPLIT (labelled target data)")
            oracle_path = self.ws.require_split(t.oracle_data)[2]
        if t.select == "source_val" and val_path is None:
            raise ConfigError("train.select=source_val needs data.val_split")
        self.scored = [(prefix, path) for prefix, path in (("", val_path), ("oracle/", oracle_path)) if path]
        self.cache_path = self.style_cache()
        src_ds = H5KeypointDataset(src_path)
        if self.cache_path is not None:
            validate_cache(self.cache_path, len(src_ds), self.ws.dataset_lineage(d.source)["params_sha1"])
            src_ds = StyledSourceDataset(src_path, self.cache_path)
        tgt_ds = H5KeypointDataset(tgt_path)
        meta = src_ds.meta
        if tgt_ds.meta.names != meta.names:
            raise DataError(f"source {d.source} and target {d.target} have different keypoints "
                            f"({meta.num_joints} vs {tgt_ds.meta.num_joints})",
                            hint="map both to one skeleton when preparing")
        for ds, path in ((src_ds, src_path), (tgt_ds, tgt_path)):
            if len(ds) < t.batch_size:
                raise DataError(f"{path}: {len(ds)} samples, fewer than one batch of {t.batch_size}")
        if self.init is not None and list(self.init["keypoints"]["names"]) != list(meta.names):
            raise DataError(f"{self.init_path}: trained on other keypoints than {d.source}")
        self.src_ds, self.tgt_ds, self.meta = src_ds, tgt_ds, meta
        self.lineage = {
            "init": {"checkpoint": str(self.init_path),
                     "config_sha1": self.init.get("config_sha1") if self.init else None},
            "source": self.ws.dataset_lineage(d.source), "target": self.ws.dataset_lineage(d.target),
            "style_cache": str(self.cache_path) if self.cache_path else None}

    def style_cache(self) -> Path | None:
        """The image level's cache of stylised source images (None when the level is off or needs no cache)."""
        d, style = self.cfg.data, self.cfg.style
        if not (style.enabled and style.kind == "cache"):
            return None
        return self.ws.root / "styles" / (style.cache or f"{d.source}__{d.target}") / "cache.h5"

    def batches(self, start_step: int, device: torch.device) -> Iterator[dict]:
        d, t = self.cfg.data, self.cfg.train
        return domain_batches(self.src_ds, self.tgt_ds, t.batch_size, t.seed, start_step, d.num_workers, device,
                              distributed.shard())

    def validator(self, device: torch.device):
        d, t = self.cfg.data, self.cfg.train
        scorers = [(prefix, split_scorer(path, d.input_size, d.sigma, device, t.batch_size, self.precision))
                   for prefix, path in self.scored]
        if not scorers:
            return None

        def validate(net: torch.nn.Module) -> dict[str, float]:
            return {prefix + k: v for prefix, score in scorers for k, v in score(net).items()}

        return validate

    def select_key(self) -> str | None:
        return {"last": None, "source_val": SELECT_METRIC, "oracle": "oracle/" + SELECT_METRIC}[self.cfg.train.select]
