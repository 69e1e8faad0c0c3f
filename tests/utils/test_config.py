"""probmoll.utils.config: ``KEY={}`` and ``KEY=null`` reset a mapping, ``KEY={a: 1}`` merges."""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from probmoll.train.config import load_config
from probmoll.utils.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    nest_dotted,
    parse_overrides,
)
from tests.helpers import SMOKE, probmoll

BASE = {"data": {"name": "a", "options": {"n": 1024, "classes": 10}}, "seed": 0}


@dataclass(frozen=True)
class Section:
    size: int = 4
    name: str = "x"


@dataclass(frozen=True)
class Config:
    options: dict[str, Any] = field(default_factory=dict)
    section: Section = field(default_factory=Section)
    threads: int | None = 2
    epochs: int = 1


def merged(*overrides):
    return apply_overrides(BASE, parse_overrides(list(overrides)))


@pytest.mark.parametrize(
    "overrides,options",
    [
        (["data.options={}"], {}),  # replaces: nothing of the base is left
        (["data.options={n: 5}"], {"n": 5, "classes": 10}),  # merges, as before
        (["data.options.n=5"], {"n": 5, "classes": 10}),
        (["data.options={}", "data.options.n=5"], {"n": 5}),  # exactly {n: 5}
        (["data.options={}", "data.options={n: 5}"], {"n": 5}),
        (["data.options=null", "data.options.n=5"], {"n": 5}),
        (["data.options=null", "data.options={n: 5}"], {"n": 5}),
        (["data.options={n: 5}", "data.options={classes: 3}"], {"n": 5, "classes": 3}),
        (["data.options.n=5", "data.options={}"], {}),  # the later override wins
        (["data={options: {}}"], {}),  # an empty mapping inside a value resets too
    ],
)
def test_empty_mapping_resets_and_mapping_merges(overrides, options):
    result = merged(*overrides)
    assert result["data"]["options"] == options
    assert result["data"]["name"] == "a" and result["seed"] == 0
    assert BASE["data"]["options"] == {"n": 1024, "classes": 10}  # the base is untouched


def test_overrides_stay_plain_data():
    # Whatever marks a reset while overrides are combined is gone once they are applied.
    result = merged("data.options={}", "data.options.n=5", "data.extra={}")
    assert yaml.safe_load(yaml.safe_dump(result)) == result
    assert type(result["data"]["options"]) is dict and type(result["data"]["extra"]) is dict


def test_nest_dotted_resets_like_parse_overrides():
    # Grid files give their overrides as a mapping of dotted keys.
    assert apply_overrides(BASE, nest_dotted({"data.options": {}}))["data"]["options"] == {}
    with pytest.raises(ConfigError, match="a.b"):
        nest_dotted({"a": 1, "a.b": 2})


@pytest.mark.parametrize(
    "override,field_name,expected",
    [
        ("options=null", "options", {}),  # a mapping field: its default
        ("section=null", "section", Section()),  # a section: its defaults
        ("section={}", "section", Section()),
        ("section={size: 8}", "section", Section(size=8, name="y")),  # merged
        ("threads=null", "threads", None),  # a field that takes null keeps it
    ],
)
def test_null_mapping_is_the_default(override, field_name, expected):
    base = {"options": {"n": 3}, "section": {"size": 9, "name": "y"}, "threads": 4}
    config = config_from_dict(Config, apply_overrides(base, parse_overrides([override])))
    assert getattr(config, field_name) == expected
    others = config_from_dict(Config, {key: v for key, v in base.items() if key != field_name})
    assert config == dataclasses.replace(others, **{field_name: expected})


def test_null_is_still_refused_where_the_default_is_not_a_mapping():
    with pytest.raises(ConfigError, match="epochs must not be null"):
        config_from_dict(Config, parse_overrides(["epochs=null"]))


def test_smoke_config_switches_dataset_and_model_by_override():
    # The smoke config holds data.options {n: 1024} (synthetic only) and model.kwargs
    # {width: 8} (preact-ResNets only): merged into another dataset or model they failed.
    config = load_config(SMOKE, ["out=x", "data.name=cifar10", "data.options={}"])
    assert config.data.name == "cifar10" and config.data.options == {}
    config = load_config(SMOKE, ["out=x", "model.name=resnet50_imagenet", "model.kwargs=null"])
    assert config.model.name == "resnet50_imagenet" and config.model.kwargs == {}
    config = load_config(SMOKE, ["out=x", "data.options={}", "data.options.num_classes=3"])
    assert config.data.options == {"num_classes": 3}
    with pytest.raises(ConfigError, match="takes no options"):
        load_config(SMOKE, ["out=x", "data.name=cifar10"])  # still merged: n is refused


def test_command_line_resets_data_options(tmp_path):
    result = probmoll(
        "train",
        "--config",
        str(SMOKE),
        "--print-config",
        f"out={tmp_path / 'run'}",
        "data.name=cifar10",
        "data.options={}",
        "model.name=resnet50_imagenet",
        "model.kwargs=null",
    )
    assert result.returncode == 0, result.stderr
    printed = yaml.safe_load(result.stdout)
    assert printed["data"] == {**printed["data"], "name": "cifar10", "options": {}}
    assert printed["model"]["name"] == "resnet50_imagenet" and printed["model"]["kwargs"] == {}
    assert not (tmp_path / "run").exists()
