import json

import pytest

from posekit.config.load import parse_sets, resolve_config
from posekit.config.schema import AdaptConfig, PretrainConfig
from posekit.errors import ConfigError


def test_set_overrides_and_types():
    cfg = resolve_config(PretrainConfig, "demo", ["train.steps=7", "augment.scale=[0.5, 1.5]", "model.width=0.25"])
    assert cfg.train.steps == 7 and cfg.augment.scale == (0.5, 1.5) and cfg.model.width == 0.25
    assert cfg.data.input_size == 128  # from the preset
    assert parse_sets(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": 1}, "d": "x"}}


def test_flags_beat_sets():
    cfg = resolve_config(PretrainConfig, None, ["train.steps=7"], {"train.steps": 9, "data.source": None})
    assert cfg.train.steps == 9 and cfg.data.source == "synth_src"


def test_misspelt_key_suggests_the_right_one():
    with pytest.raises(ConfigError) as info:
        resolve_config(PretrainConfig, None, ["train.setps=5"])
    assert "train.setps: unknown key" in info.value.message
    assert info.value.hint == "did you mean train.steps?"
    assert info.value.exit_code == 2


@pytest.mark.parametrize("override, fragment", [
    ("train.steps=abc", "train.steps"),
    ("data.input_size=100", "multiple of 32"),
    ("model.backbone=resnet7", "model.backbone"),
    ("model.pretrained=imagenet", "only for width 1.0"),
    ("augment.flip=2", "augment.flip"),
])
def test_bad_values(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(PretrainConfig, "demo", [override])


def test_missing_preset_and_bad_set_syntax(tmp_path):
    with pytest.raises(ConfigError, match="no preset named"):
        resolve_config(PretrainConfig, "nope")
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(PretrainConfig, str(tmp_path / "x.yaml"))
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_sets(["train.steps"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        resolve_config(PretrainConfig, str(bad))


def test_every_builtin_preset_validates_against_its_stage():
    from posekit.config.load import builtin_presets, read_preset
    from posekit.stages import stage_config

    names = builtin_presets()
    assert {"demo", "adapt_demo", "daml_pretrain", "daml_adapt", "daml_code", "mae_demo", "mim_demo",
            "mesh_source", "mesh_photo"} <= set(names)
    for name in names:
        preset = read_preset(name)[0]
        stage = preset.get("stage")
        assert stage in ("prepare", "pretrain", "stylize", "adapt"), f"preset {name} does not declare its stage"
        method = preset.get("method") if stage in ("pretrain", "adapt") else None
        resolve_config(stage_config(stage, method), name, stage=stage)


def test_a_preset_for_another_stage_is_refused():
    from posekit.config.schema import PretrainConfig
    from posekit.errors import ConfigError

    with pytest.raises(ConfigError, match="preset adapt_demo is for `posekit adapt`, not `posekit pretrain`"):
        resolve_config(PretrainConfig, "adapt_demo", stage="pretrain")


# the only settings in which the CPU demo's adaptation may differ from the authors' code (its preset says why)
CPU_SCALE = {"data.num_workers", "optim.lr", "optim.milestones", "teacher.ema", "occlusion.size", "train.steps",
             "train.batch_size", "train.val_every", "train.ckpt_every"}


def test_adapt_demo_is_daml_code_at_cpu_scale():
    """Presets do not inherit, so adapt_demo repeats daml_code: every setting but the CPU-scale ones is equal, both
    as written and as resolved (an edit to one preset alone fails here)."""
    from posekit.config.load import read_preset

    def flat(tree, prefix=""):
        out = {}
        for key, value in tree.items():
            out.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value})
        return out

    code, demo = flat(read_preset("daml_code")[0]), flat(read_preset("adapt_demo")[0])
    differ = {k for k in code.keys() | demo.keys() if code.get(k) != demo.get(k)}
    assert differ <= CPU_SCALE, differ - CPU_SCALE
    resolved = [flat(resolve_config(AdaptConfig, name).model_dump(mode="json")) for name in ("daml_code", "adapt_demo")]
    assert {k for k in resolved[0] if resolved[0][k] != resolved[1][k]} <= CPU_SCALE
    # what makes them the code's rather than posekit's defaults
    cfg = resolve_config(AdaptConfig, "adapt_demo")
    assert cfg.augment.crop == cfg.target_augment.crop == (0.6, 1.3) and cfg.augment.flip == 0.0
    assert cfg.augment.rotation == 60 and cfg.augment.shear == (-30, 30) and cfg.weak_augment == cfg.target_augment
    assert cfg.occlusion.geometry == "warps" and cfg.optim.state == "pretrain" and cfg.teacher.fp32
    assert cfg.data.targets == "code"
    for a in (cfg.augment, cfg.target_augment):
        assert a.interpolation == "nearest" and a.jitter_order == "random" and a.integer_translate


def test_regda_demo_shares_adapt_demos_augmentation():
    """bench/ablation.py puts the RegDA row in the multi-level rows' table: its preset takes adapt_demo's source
    and target augmentation and targets, so the rows differ by the method only (docs/regda.md)."""
    from posekit.config.schema_regda import RegDAConfig

    demo, regda = resolve_config(AdaptConfig, "adapt_demo"), resolve_config(RegDAConfig, "regda_demo")
    assert regda.augment == demo.augment and regda.target_augment == demo.target_augment == demo.weak_augment
    assert regda.data.targets == demo.data.targets == "code"
    assert (regda.train.steps, regda.train.batch_size) == (demo.train.steps, demo.train.batch_size)


def test_new_faithfulness_options_default_to_posekits_behaviour():
    from posekit.config.schema import AugmentConfig, StylizeConfig

    a, cfg = AugmentConfig(), AdaptConfig()
    assert (a.interpolation, a.jitter_order, a.integer_translate) == ("bilinear", "fixed", False)
    assert cfg.data.targets == "subpixel" and PretrainConfig().data.targets == "subpixel"
    s = StylizeConfig(source="a", target="b")
    assert s.adain_space == "rgb" and s.decoder_style_weight == 0.1
    for name in ("daml_code", "daml_pretrain"):
        from posekit.config.load import read_preset
        preset = read_preset(name)[0]
        assert preset["augment"]["interpolation"] == "nearest" and preset["data"]["targets"] == "code"


def test_new_adapt_options_default_to_the_old_behaviour_and_refuse_incoherent_levels():
    cfg = AdaptConfig()
    assert cfg.augment.crop is None and cfg.target_augment.crop is None and cfg.teacher_augment is None
    assert cfg.weak_augment == cfg.target_augment and cfg.occlusion.geometry == "view"
    assert cfg.optim.state == "fresh" and cfg.teacher.fp32 is False
    off = ["consistency.enabled=false", "adversarial.enabled=false", "infomax.enabled=false"]
    with pytest.raises(ConfigError, match="occlusion.enabled=true has no effect") as err:
        resolve_config(AdaptConfig, sets=off)
    assert str(err.value).startswith("invalid configuration (command line): occlusion.enabled=true")  # no "Value error"
    resolve_config(AdaptConfig, sets=[*off, "occlusion.enabled=false"])  # the source-only row
    resolve_config(AdaptConfig, sets=off[:1])  # occlusion without consistency: allowed, it still runs
    with pytest.raises(ConfigError, match="target_augment.crop only"):
        resolve_config(AdaptConfig, sets=["target_augment.crop=[0.6,1.3]", "teacher_augment.crop=[0.8,1.0]"])
    weak = resolve_config(AdaptConfig, sets=["teacher_augment.rotation=0"])
    assert weak.weak_augment.rotation == 0 and weak.target_augment.rotation == 30
    with pytest.raises(ConfigError, match="crop"):
        resolve_config(AdaptConfig, sets=["augment.crop=[1.1,1.3]"])


def test_memory_format_default_and_the_null_of_older_runs():
    """NHWC by default on every device; a config written before that (``channels_last: null``) still validates and
    keeps its old meaning, on CUDA only, so such a run resumes in the layout it started in."""
    import torch

    from posekit.config.schema import AugmentConfig, ModelConfig
    from posekit.data.codec import HeatmapCodec
    from posekit.data.meta import MPII16
    from posekit.engine.device import prepare_for_device
    from posekit.methods.supervised import SupervisedMethod
    from posekit.models.factory import build_pose_net

    assert PretrainConfig().train.channels_last is True
    old = PretrainConfig.model_validate({"train": {"channels_last": None}})
    layouts = {}
    for setting in (True, old.train.channels_last, False):
        net = build_pose_net(ModelConfig(backbone="resnet18", width=0.25, deconv_channels=16), 16)
        method = SupervisedMethod(net, HeatmapCodec(64, 16, 2.0), AugmentConfig(), MPII16, 0)
        layouts[setting] = prepare_for_device(method, setting, "off", "inductor", torch.device("cpu"))
        nhwc = net.backbone.stem[0].weight.is_contiguous(memory_format=torch.channels_last)
        assert nhwc == layouts[setting].startswith("channels-last")
    assert layouts == {True: "channels-last, compile off", None: "contiguous, compile off",
                       False: "contiguous, compile off"}


def test_a_set_changes_one_key_of_a_section_with_stage_specific_defaults():
    """adapt's optim (lr 1e-4, its own milestones) and target_augment (no flips) keep their values when one key of
    them is overridden, instead of falling back to the section class's defaults."""
    from posekit.config.schema import AdaptConfig

    cfg = resolve_config(AdaptConfig, None, ["optim.gamma=0.5", "target_augment.rotation=10"])
    assert cfg.optim == AdaptConfig().optim.model_copy(update={"gamma": 0.5})
    assert cfg.target_augment.flip == 0.0 and cfg.target_augment.rotation == 10
    assert resolve_config(AdaptConfig) == AdaptConfig() and resolve_config(PretrainConfig) == PretrainConfig()


def test_the_generator_and_stylize_configs_are_strict_with_cross_field_rules():
    from pydantic import ValidationError

    from posekit.config.schema import StylizeConfig, SyntheticConfig

    for bad in ({"gap": 2}, {"gap": float("nan")}, {"num_train": 0}, {"shift": "poses"}, {"roll": 181},
                {"nope": 1}, {"num_train": True}, {"body": "mesh", "skeleton": "quadruped"},
                {"phenotypes": "all"}, {"pose_families": "prior=1", "skeleton": "quadruped"}):
        with pytest.raises(ValidationError):
            SyntheticConfig(**bad)
    assert SyntheticConfig(body="mesh", phenotypes="all").phenotypes == "all"
    for bad in ({"alpha": (0.8, 0.2)}, {"alpha": (0.0, 1.5)}, {"beta": 0.6}, {"variants": 0}, {"name": "../x"},
                {"encoder": "vgg19"}, {"method": "adain", "encoder": "efficientnet_lite0"}):
        with pytest.raises(ValidationError):
            StylizeConfig(**bad)
    assert StylizeConfig(method="adain", encoder="efficientnet_lite0", train_decoder=True).train_decoder


def test_prepare_and_stylize_take_presets_and_set_like_the_training_stages(tmp_path):
    from typer.testing import CliRunner

    from posekit.cli import app

    preset = tmp_path / "tiny.yaml"
    preset.write_text("stage: prepare\nnum_train: 4\nnum_val: 2\nnum_test: 2\nroll: 30\n")
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["-w", str(ws), "prepare", "synthetic", "-c", str(preset), "--set", "num_val=0",
                                      "--num-test", "3", "--size", "32", "--workers", "1"])
    assert result.exit_code == 0, result.output
    params = json.loads((ws / "data/synth_src/manifest.json").read_text())["params"]
    assert (params["num_train"], params["num_val"], params["num_test"], params["roll"]) == (4, 0, 3, 30.0)
    assert not (ws / "data/synth_src/val.h5").exists()
    result = CliRunner().invoke(app, ["-w", str(ws), "prepare", "synthetic", "-c", "demo"])
    assert result.exit_code == 2 and "is for `posekit pretrain`, not `posekit prepare`" in result.output
    result = CliRunner().invoke(app, ["-w", str(ws), "prepare", "lspet", "--set", "num_train=3"])
    assert result.exit_code == 2 and "--num-train only applies to `prepare synthetic`" in result.output
    result = CliRunner().invoke(app, ["config", "show", "prepare", "-c", "mesh_source"])
    assert result.exit_code == 0 and "body: mesh" in result.output and "framing: joints" in result.output

    style = tmp_path / "style.yaml"
    style.write_text("stage: stylize\nmethod: fda\nvariants: 1\n")
    result = CliRunner().invoke(app, ["-w", str(ws), "stylize", "-c", str(style), "--set", "beta=0.05",
                                      "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((ws / "styles/synth_src__synth_tgt/manifest.json").read_text())
    assert (manifest["method"], manifest["variants"], manifest["params"]["beta"]) == ("fda", 1, 0.05)
    result = CliRunner().invoke(app, ["-w", str(ws), "stylize", "--method", "fdaa"])
    assert result.exit_code == 2 and "did you mean 'fda'" in result.output


def test_the_stylizer_registry_is_what_stylize_runs():
    from posekit.stylize.methods import STYLIZERS

    assert STYLIZERS.names() == ["adain", "colour", "fda"]
    assert [n for n in STYLIZERS.names() if STYLIZERS.get(n).network] == ["adain"]
    assert STYLIZERS.get("fda").keys == ("beta",)
