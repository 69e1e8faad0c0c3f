"""Typed training configuration: YAML, dotted overrides, errors that name the key."""

import dataclasses
import inspect
from pathlib import Path

import pytest
import yaml

from probmoll.augment import AugmentConfig
from probmoll.cli import main as probmoll_main
from probmoll.likelihoods import LikelihoodConfig
from probmoll.mollify import MollifyConfig
from probmoll.train.config import (
    ConfigError,
    DataConfig,
    EmaConfig,
    EvalConfig,
    ModelConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    WandbConfig,
    config_from_dict,
    config_to_dict,
    dump_config,
    load_config,
    parse_overrides,
)

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "experiments" / "configs").glob("*.yaml"))


def test_defaults_follow_the_paper_recipe():
    # Sec. 4 and docs/paper-readings.md, reading 9: SGD, lr 0.01, momentum 0.9,
    # weight decay 5e-4, cosine annealing, batch 128, 300 epochs.
    config = TrainConfig(out="x")
    assert (config.optim.name, config.optim.lr, config.optim.momentum) == ("sgd", 0.01, 0.9)
    assert config.optim.weight_decay == 5e-4
    assert config.schedule.name == "cosine"
    assert (config.batch_size, config.epochs) == (128, 300)
    # The sub-packages' own config classes are the sections.
    assert isinstance(config.mollify, MollifyConfig)
    assert isinstance(config.likelihood, LikelihoodConfig)
    assert isinstance(config.augment, AugmentConfig)


SECTIONS = {
    "data", "model", "augment", "mollify", "likelihood", "optim", "schedule", "ema", "eval",
    "wandb",
}  # fmt: skip


@pytest.mark.parametrize(
    "cls",
    [
        TrainConfig, DataConfig, ModelConfig, OptimConfig, ScheduleConfig, EmaConfig, EvalConfig,
        WandbConfig,
    ],
)  # fmt: skip
def test_every_field_has_a_comment(cls):
    lines = inspect.getsource(cls).splitlines()
    for field in dataclasses.fields(cls):
        if field.name in SECTIONS:
            continue  # documented by its own class
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{field.name}:"))
        assert lines[index - 1].strip().startswith("#"), f"{cls.__name__}.{field.name}"


@pytest.mark.parametrize(
    "override,key,value",
    [
        ("likelihood.k=4", ("likelihood", "k"), 4),
        ("likelihood.estimator=log_mean_exp", ("likelihood", "estimator"), "log_mean_exp"),
        ("mollify.enabled=false", ("mollify", "enabled"), False),
        ("eval.severities=[1, 5]", ("eval", "severities"), (1, 5)),
        ("mollify.roles=[clean, noise]", ("mollify", "roles"), ("clean", "noise")),
        # YAML 1.1 reads 5e-4 as a string; a float field takes it as the number.
        ("optim.weight_decay=5e-4", ("optim", "weight_decay"), 5e-4),
        ("optim.lr=1", ("optim", "lr"), 1.0),
        ("model.kwargs.width=8", ("model", "kwargs"), {"width": 8}),
        ("out=runs/dk", ("out",), "runs/dk"),
        ("threads=null", ("threads",), None),
    ],
)
def test_dotted_overrides_are_parsed_as_yaml(override, key, value):
    config = load_config(None, ["out=x", override], validate=False)
    node = config
    for part in key:
        node = getattr(node, part)
    assert node == value
    assert type(node) is type(value)


def test_overrides_merge_into_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "out: a\nmodel: {name: preact_resnet18, kwargs: {width: 8}}\n"
        "likelihood: {form: smooth, k: 2}\nbatch_size: 32\n"
    )
    config = load_config(
        path, ["likelihood.estimator=log_mean_exp", "model.kwargs.extra=1"], validate=False
    )
    assert config.likelihood == LikelihoodConfig(form="smooth", estimator="log_mean_exp", k=2)
    assert config.model.kwargs == {"width": 8, "extra": 1}
    assert config.batch_size == 32 and config.out == "a"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_round_trip(path, tmp_path):
    config = load_config(path, ["out=" + str(tmp_path / "run")])
    text = dump_config(config)
    saved = tmp_path / "config.yaml"
    saved.write_text(text)
    assert load_config(saved) == config
    assert yaml.safe_load(text) == config_to_dict(config)


@pytest.mark.parametrize(
    "overrides,named",
    [
        (["optim.momentun=0.8"], ["optim.momentun", "momentum"]),  # unknown key, valid listed
        (["colour=red"], ["colour", "batch_size"]),
        (["epochs=ten"], ["epochs", "integer"]),  # wrong type
        (["mollify.enabled=1"], ["mollify.enabled", "true or false"]),
        (["batch_size=30", "likelihood.k=4"], ["batch_size", "likelihood.k", "30"]),
        (["mollify.beta=0"], ["mollify", "beta"]),
        (["mollify.beta=-1.5"], ["mollify", "beta", "-1.5"]),
        (["model.name=resnet9000"], ["model.name", "resnet9000", "preact_resnet18"]),
        (["data.name=mnist-9"], ["data.name", "mnist-9", "synthetic"]),
        (["precision=fp8"], ["precision", "fp8", "bf16"]),
        (["likelihood.estimator=magic"], ["likelihood", "magic", "jensen"]),
        (["augment.policy=fcr+magic"], ["augment", "fcr+magic", "fcr+trivaug"]),
        (["eval.corruptions=imagenet-z"], ["eval.corruptions", "generated"]),
        (["eval.corruption_preset=cifar"], ["eval.corruption_preset", "tinyimagenet-c"]),
        (
            ["eval.corruptions=cifar100-c", "eval.corruption_preset=imagenet-c"],
            ["eval.corruption_preset", "cifar10-c"],
        ),
        (["eval.severities=[0, 6]"], ["eval.severities"]),
        (["optim.lr=-0.1"], ["optim.lr"]),
        (["ema.decay=1.5"], ["ema.decay"]),
        (["model.kwargs.num_classes=3"], ["model.kwargs", "num_classes"]),
        (["likelihood.k"], ["likelihood.k", "dotted.key=value"]),
        # model.kwargs bound to the factory's signature, before any data is loaded
        (["model.kwargs={widht: 3}"], ["model.kwargs.widht", "preact_resnet18", "options: width"]),
        (["model.kwargs.width=0"], ["model.kwargs.width", ">= 1, got 0"]),
        (["model.kwargs.width='8'"], ["model.kwargs.width", "integer", "'8'"]),
        (["model.name=resnet50_imagenet"], ["model.kwargs.width", "options: weights"]),
        # data.options against the loader's options
        (["data.options.num_clases=4"], ["data.options.num_clases", "num_classes, size, n"]),
        (["data.options.n=0"], ["data.options.n", ">= 1, got 0"]),
        (["data.options.num_classes=1"], ["data.options.num_classes", ">= 2"]),
        (["data.options.channels=2"], ["data.options.channels", "valid choices: 1, 3"]),
        (["data.options.size=4.5"], ["data.options.size", "integer"]),
        (["data.name=cifar10"], ["data.options.n", "'cifar10'", "takes no options"]),
        # K > 1 identical copies: every estimator collapses to K = 1
        (
            ["likelihood.k=4", "mollify.enabled=false"],
            ["likelihood.k = 4", "mollify.enabled = false", "identical", "likelihood.k=1"],
        ),
        (["likelihood.k=2", "mollify.roles=[clean]"], ["likelihood.k = 2", "mollify.roles"]),
        (["likelihood.k=2", "mollify.weights=[1, 0, 0]"], ["likelihood.k = 2", "mollify.weights"]),
    ],
)
def test_bad_configs_fail_naming_the_key(overrides, named):
    with pytest.raises(ConfigError) as raised:
        load_config(REPO / "experiments/configs/smoke.yaml", overrides)
    message = str(raised.value)
    for fragment in named:
        assert fragment in message, message


@pytest.mark.parametrize(
    "overrides",
    [
        ["model.kwargs.width=3"],
        ["data.options={n: 64, num_classes: 3, size: 8, channels: 1, seed: 2}"],
        ["likelihood.k=2", "mollify.roles=[clean, blur]"],
        ["likelihood.k=2", "mollify.weights=[1, 0, 1]"],
        ["likelihood.k=1", "mollify.enabled=false"],
    ],
)
def test_valid_options_pass(overrides):
    load_config(REPO / "experiments/configs/smoke.yaml", overrides)


def test_fashion_mnist_pads_never_crops():
    fmnist = REPO / "experiments/configs/fmnist-small.yaml"
    assert load_config(fmnist, ["data.options.pad_to=null"]).data.options == {"pad_to": None}
    with pytest.raises(ConfigError, match=r"data.options.pad_to must be >= 28, got 20"):
        load_config(fmnist, ["data.options.pad_to=20"])
    with pytest.raises(ConfigError, match=r"data.options.pad_to .* matches none of int \| None"):
        load_config(fmnist, ["data.options.pad_to=wide"])


def test_model_kwargs_follow_the_factory_signature():
    from probmoll.models import registry

    def open_factory(num_classes, in_channels=3, image_size=32, **options):
        raise AssertionError("validation must not build the model")

    def needs_depth(num_classes, in_channels=3, image_size=32, *, depth: int):
        raise AssertionError("validation must not build the model")

    with registry.MODELS.scoped():
        registry.MODELS.add("open_factory", open_factory)
        registry.MODELS.add("needs_depth", needs_depth)
        # **options: any name goes (the factory decides)
        load_config(None, ["out=x", "model.name=open_factory", "model.kwargs={anything: 1}"])
        with pytest.raises(
            ConfigError, match=r"model.kwargs do not fit model 'needs_depth'.*depth"
        ):
            load_config(None, ["out=x", "model.name=needs_depth"])
        with pytest.raises(ConfigError, match=r"model.kwargs.depth must be an integer"):
            load_config(None, ["out=x", "model.name=needs_depth", "model.kwargs={depth: deep}"])
        load_config(None, ["out=x", "model.name=needs_depth", "model.kwargs={depth: 3}"])
        # torchvision's ResNet-50 takes pretrained weights, not a width
        load_config(None, ["out=x", "model.name=resnet50_imagenet", "model.kwargs={weights: null}"])
        with pytest.raises(ConfigError, match=r"model.kwargs.width .* valid options: weights"):
            load_config(None, ["out=x", "model.name=resnet50_imagenet", "model.kwargs={width: 8}"])


def test_documented_errors_match_the_code():
    # docs/training.md quotes the messages of these overrides (up to its "...").
    quoted = [
        line.removeprefix("probmoll train: error: ").removesuffix("...").rstrip()
        for line in (REPO / "docs" / "training.md").read_text().splitlines()
        if line.startswith("probmoll train: error: ")
    ]
    overrides = [
        ["batch_size=30", "likelihood.k=4"],
        ["optim.momentun=0.8"],
        ["mollify.beta=0"],
        ["model.name=resnet9000"],
        ["model.kwargs={widht: 3}"],
    ]
    assert len(quoted) == len(overrides)
    for text, override in zip(quoted, overrides, strict=True):
        with pytest.raises(ConfigError) as raised:
            load_config(REPO / "experiments/configs/smoke.yaml", override)
        assert str(raised.value).startswith(text), (text, str(raised.value))


def test_out_is_required():
    with pytest.raises(ConfigError, match="missing required key out"):
        config_from_dict(TrainConfig, {})


@pytest.mark.parametrize(
    "overrides",
    [
        ["batch_size=30", "likelihood.k=4"],
        ["mollify.beta=0"],
        ["optim.momentun=0.8"],
        ["model.kwargs.widht=3"],
        ["data.options.nn=3"],
    ],
)
def test_command_line_rejects_bad_configs_before_training(tmp_path, capsys, overrides):
    out = tmp_path / "run"
    status = probmoll_main(
        [
            "train",
            "--config",
            str(REPO / "experiments/configs/smoke.yaml"),
            f"out={out}",
            *overrides,
        ]
    )
    assert status == 2
    error = capsys.readouterr().err
    assert overrides[-1].split("=")[0].split(".")[-1] in error
    assert not out.exists()  # nothing was started


def test_print_config_reproduces_the_run_config(tmp_path, capsys):
    status = probmoll_main(
        [
            "train",
            "--config",
            str(REPO / "experiments/configs/smoke.yaml"),
            "--print-config",
            f"out={tmp_path}",
            "seed=7",
            "likelihood.k=2",
            "likelihood.estimator=log_mean_exp",
        ]
    )
    assert status == 0
    text = capsys.readouterr().out
    (tmp_path / "c.yaml").write_text(text)
    config = load_config(tmp_path / "c.yaml")
    assert config.seed == 7 and config.likelihood.k == 2
    assert config == load_config(
        REPO / "experiments/configs/smoke.yaml",
        [f"out={tmp_path}", "seed=7", "likelihood.k=2", "likelihood.estimator=log_mean_exp"],
    )


def test_parse_overrides_nests_keys():
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "d=x"]) == {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    with pytest.raises(ConfigError, match="a.b"):
        parse_overrides(["a=1", "a.b=2"])


def test_tempered_likelihood_refuses_mixed_labels():
    with pytest.raises(ConfigError, match=r"likelihood.form = 'temper' takes tempered targets"):
        load_config(None, ["out=x", "likelihood.form=temper", "augment.mix=mixup"])
    load_config(None, ["out=x", "likelihood.form=temper", "augment.mix=none"])
    load_config(None, ["out=x", "likelihood.form=smooth", "augment.mix=cutmix"])
