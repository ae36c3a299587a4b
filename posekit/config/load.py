"""Resolve a configuration: schema defaults < preset YAML < ``--set a.b=value`` < first-class CLI flags."""

from __future__ import annotations

import hashlib
import json
import typing
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from posekit.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a mapping repeating a key is an error (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """Parse YAML (safe subset) refusing repeated keys; raises yaml.YAMLError."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass


def builtin_presets() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("posekit.presets").iterdir() if p.name.endswith(".yaml"))


def read_preset(ref: str) -> tuple[dict[str, Any], str]:
    """Load a preset by path or by built-in name; returns (mapping, where it came from)."""
    path = Path(ref)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"config file {path} does not exist", hint=f"built-in presets: {', '.join(builtin_presets())}")
        if path.is_dir():
            raise ConfigError(f"--config {path} is a directory", hint=f"pass a YAML file or a built-in preset: "
                                                                      f"{', '.join(builtin_presets())}")
        try:
            text, origin = path.read_text(), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: unreadable config file ({getattr(exc, 'strerror', None) or exc.__class__.__name__})",
                              hint="pass a readable YAML file") from None
    else:
        res = resources.files("posekit.presets") / f"{ref}.yaml"
        if not res.is_file():
            raise ConfigError(f"no preset named {ref!r}", hint=f"built-in presets: {', '.join(builtin_presets())}")
        text, origin = res.read_text(), f"preset {ref}"
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        detail = f": {exc.problem}" if "twice" in str(getattr(exc, "problem", "")) else ""
        raise ConfigError(f"{origin}: invalid YAML ({exc.__class__.__name__}{detail})",
                          hint="check indentation and colons, and that each key appears once") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: top level must be a mapping of sections")
    return data, origin


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = tree
    for key in keys[:-1]:
        nxt = node.setdefault(key, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {dotted}: {key!r} is not a section")
        node = nxt
    node[keys[-1]] = value


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["train.steps=100", "augment.scale=[0.7,1.3]"]`` → nested dict (values parsed as YAML)."""
    tree: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r} is not KEY=VALUE", hint="e.g. --set train.steps=500")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw) if raw != "" else ""
        except yaml.constructor.ConstructorError as exc:
            raise ConfigError(f"--set {item!r}: {exc.problem}", hint="give each key once") from None
        except yaml.YAMLError:
            value = raw
        _set_dotted(tree, key.strip(), value)
    return tree


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def format_validation_error(exc: ValidationError, origin: str, flags: dict[str, str] | None = None) -> str:
    """One line for every error of ``exc``: its key (or, for a value a command-line flag gave, the flag: ``flags``
    maps dotted keys to flags) and what is wrong; an unknown choice names the value and the choices."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        name = (flags or {}).get(loc, loc)
        msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's own message
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        if err["type"] == "literal_error":
            lines.append(f"unknown {name} {err['input']!r}: use {err['ctx']['expected']}")
            continue
        lines.append(f"{name}: {msg}" if loc else msg)
    return f"invalid configuration ({origin}): " + "; ".join(lines)


def _section(annotation: Any) -> type[BaseModel] | None:
    """The model class inside a field annotation (``ModelConfig | None`` → ModelConfig), or None for a value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((a for a in typing.get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)), None)


def config_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every leaf key of ``model`` as a dotted path (``optim.lr`` …)."""
    keys = []
    for name, field in model.model_fields.items():
        sub = _section(field.annotation)
        keys += config_keys(sub, f"{prefix}{name}.") if sub is not None else [f"{prefix}{name}"]
    return keys


def suggest_key(model: type[BaseModel], exc: ValidationError) -> str | None:
    """For the first unknown key: the key of that name in another section (``train.lr`` → ``optim.lr``), else a
    close key of the same section (``train.setps`` → ``train.steps``), else the closest dotted key."""
    import difflib

    keys = config_keys(model)
    for err in exc.errors():
        if err["type"] != "extra_forbidden":
            continue
        dotted = ".".join(str(p) for p in err["loc"])
        prefix, _, leaf = dotted.rpartition(".")
        same = [k for k in keys if k.rpartition(".")[0] == prefix]
        close = ([k for k in keys if k.rpartition(".")[2] == leaf] or difflib.get_close_matches(dotted, same, n=1, cutoff=0.7)
                 or difflib.get_close_matches(dotted, keys, n=1, cutoff=0.75))
        if close:
            return f"did you mean {close[0]}?"
    return None


def section_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """The values of the sections whose default is an instance of their own (adapt's ``optim`` with lr 1e-4, its
    ``target_augment`` without flips), so that ``--set optim.gamma=…`` changes that key alone instead of resetting
    the section to its class's defaults."""
    return {name: field.default.model_dump(mode="json") for name, field in model.model_fields.items()
            if isinstance(field.default, BaseModel)}


def resolve_config(
    model: type[M], preset: str | None = None, sets: list[str] | None = None, flags: dict[str, Any] | None = None,
    stage: str | None = None,
) -> M:
    """Build ``model`` from its defaults, a preset, ``--set`` overrides and CLI flags (dotted keys). A preset
    names the stage it is for (its ``stage`` key); given ``stage``, a preset for another stage is refused."""
    tree = section_defaults(model)
    origin = "defaults"
    if preset:
        preset_tree, origin = read_preset(preset)
        preset_tree = dict(preset_tree)
        meant = preset_tree.pop("stage", None)
        if stage is not None and meant is not None and meant != stage:
            raise ConfigError(f"{origin} is for `posekit {meant}`, not `posekit {stage}`",
                              hint=f"use it with `posekit {meant}`, or list presets with `posekit list presets`")
        tree = deep_merge(tree, preset_tree)
    tree = deep_merge(tree, parse_sets(sets or []))
    given = {key: value for key, value in (flags or {}).items() if value is not None}
    for key, value in given.items():
        _set_dotted(tree, key, value)
    if sets or given:  # where the values came from, for the error message
        origin = "command line" if origin == "defaults" else f"{origin}, command line"
    try:
        return model.model_validate(tree)
    except ValidationError as exc:
        shown = {key: "--" + key.rsplit(".", 1)[-1].replace("_", "-") for key in given}
        show = f"posekit config show {stage} --explain" if stage else "posekit config show --explain"
        hint = suggest_key(model, exc) or f"run `{show}` to list every key"
        raise ConfigError(format_validation_error(exc, origin, shown), hint=hint) from None


def config_to_yaml(cfg: BaseModel) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def config_sha1(cfg: BaseModel) -> str:
    return hashlib.sha1(json.dumps(cfg.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
