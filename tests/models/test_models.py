import pytest
import torch

from probmoll.models import (
    create_model,
    data_info,
    list_models,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)

CPU_MODELS = [name for name in list_models() if name.endswith("_w16") and "101" not in name]


@pytest.mark.parametrize("name", CPU_MODELS)
@pytest.mark.parametrize("in_channels,size", [(3, 32), (1, 32), (3, 64)])
def test_registered_models_map_images_to_logits(name, in_channels, size):
    model = create_model(name, num_classes=7, in_channels=in_channels, image_size=size)
    logits = model(torch.randn(2, in_channels, size, size))
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(
    "name,expected",
    [
        # Closed-form counts of the CIFAR-10 architectures (conv + BN + fc parameters);
        # docs/paper-readings.md, reading 8.
        ("preact_resnet18", 11_172_170),
        ("preact_resnet50", 23_513_162),  # the paper quotes 23.7M
    ],
)
def test_parameter_counts(name, expected):
    model = create_model(name, num_classes=10, in_channels=3, image_size=32)
    assert sum(p.numel() for p in model.parameters()) == expected


def test_resnet18_count_matches_hand_computation():
    # Stem 3x3 conv, four stages of basic blocks, projection shortcuts, final BN, fc.
    w = 16
    count = 3 * w * 9
    in_planes = w
    for stage, planes in enumerate([w, 2 * w, 4 * w, 8 * w]):
        for block in range(2):
            count += 2 * in_planes  # bn1
            count += in_planes * planes * 9 + 2 * planes + planes * planes * 9  # conv1, bn2, conv2
            if in_planes != planes or (stage > 0 and block == 0):
                count += in_planes * planes  # 1x1 projection
            in_planes = planes
    count += 2 * in_planes + in_planes * 10 + 10
    model = create_model("preact_resnet18_w16", num_classes=10, in_channels=3, image_size=32)
    assert sum(p.numel() for p in model.parameters()) == count


def test_imagenet_resnet50_builds_without_download():
    model = create_model("resnet50_imagenet", num_classes=5, in_channels=3, image_size=64)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_imagenet_resnet50_loads_local_weights(tmp_path):
    from torchvision.models import resnet50

    reference = resnet50(weights=None)
    path = tmp_path / "r50.pth"
    torch.save(reference.state_dict(), path)
    model = create_model("resnet50_imagenet", num_classes=1000, weights=str(path))
    assert torch.equal(model.conv1.weight, reference.conv1.weight)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_model("resnet50_imagenet", num_classes=10, weights=str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="unknown ResNet-50 weights"):
        create_model("resnet50_imagenet", num_classes=10, weights="NOT_A_WEIGHT")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(name="resnet9000", num_classes=10), "unknown model 'resnet9000'; valid names: "),
        (dict(name="preact_resnet18", num_classes=1), "num_classes must be an integer >= 2"),
        (dict(name="preact_resnet18", num_classes=10, in_channels=0), "in_channels"),
        (dict(name="preact_resnet18", num_classes=10, image_size=4), "image_size"),
    ],
)
def test_bad_model_requests(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_model(**kwargs)


def test_forward_rejects_wrong_ndim():
    model = create_model("preact_resnet18_w16", num_classes=3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        model(torch.randn(3, 32, 32))


def _tiny_checkpoint(tmp_path, name="checkpoint.pt"):
    kwargs = dict(num_classes=3, in_channels=1, image_size=32, width=4)
    model = create_model("preact_resnet18", **kwargs)
    model.eval()
    info = data_info("synthetic", 3, 1, 32, mean=[0.5], std=[0.25], classes=["a", "b", "c"])
    path = save_checkpoint(
        tmp_path / name,
        model=model,
        model_name="preact_resnet18",
        model_kwargs=kwargs,
        data=info,
        extra={"step": 7},
    )
    return model, path


def test_checkpoint_round_trip_file_and_run_folder(tmp_path):
    model, path = _tiny_checkpoint(tmp_path)
    x = torch.randn(4, 1, 32, 32)
    for source in (path, tmp_path, load_checkpoint(path)):
        restored, info = model_from_checkpoint(source)
        assert not restored.training
        assert torch.equal(restored(x), model(x))
        assert info["mean"] == [0.5] and info["classes"] == ["a", "b", "c"]
        assert info["model_name"] == "preact_resnet18"
    assert load_checkpoint(path)["step"] == 7


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.pt"):
        load_checkpoint(tmp_path)
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable probmoll checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a probmoll checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="one value per channel"):
        data_info("x", 3, 3, 32, mean=[0.5], std=[0.5, 0.5, 0.5])
    model = create_model("preact_resnet18_w16", num_classes=3)
    with pytest.raises(ValueError, match="model_kwargs must include"):
        save_checkpoint(
            tmp_path / "c.pt",
            model=model,
            model_name="preact_resnet18_w16",
            model_kwargs={},
            data=data_info("x", 3, 3, 32, [0.5] * 3, [0.5] * 3),
        )


def _conv_layers(model):
    return [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def _fans(conv):
    receptive = conv.kernel_size[0] * conv.kernel_size[1]
    return conv.in_channels * receptive, conv.out_channels * receptive


def test_default_initialisation_is_pytorchs():
    # PyTorch's default for Conv2d/Linear: uniform in +-1/sqrt(fan_in) (std 1/sqrt(3 fan_in));
    # BatchNorm scale 1, shift 0. The reference pre-activation networks keep it.
    torch.manual_seed(0)
    model = create_model("preact_resnet18", num_classes=10)
    for conv in _conv_layers(model):
        fan_in, _ = _fans(conv)
        weight = conv.weight.detach()
        bound = fan_in**-0.5
        assert weight.abs().max() <= bound
        if weight.numel() >= 4096:
            assert weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
    assert model.fc.weight.abs().max() <= model.fc.in_features**-0.5
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))


def test_kaiming_fan_out_initialisation_on_request():
    torch.manual_seed(0)
    model = create_model("preact_resnet18", num_classes=10, init="kaiming_fan_out")
    ratios = []
    for conv in _conv_layers(model):
        _, fan_out = _fans(conv)
        if conv.weight.numel() >= 4096:
            ratios.append(conv.weight.std().item() / (2 / fan_out) ** 0.5)
    assert ratios and all(abs(r - 1) < 0.05 for r in ratios)


def test_default_initialisation_keeps_activations_small():
    # What the initialisation decides: the logit scale of a fresh network. Under the
    # fan_out habit the residual sums grow several times larger than under the default.
    images = torch.randn(64, 3, 32, 32)
    scales = {}
    for init in ("default", "kaiming_fan_out"):
        torch.manual_seed(0)
        model = create_model("preact_resnet18_w16", num_classes=10, init=init).eval()
        with torch.no_grad():
            scales[init] = model.stages(model.stem(images)).std().item()
    assert scales["kaiming_fan_out"] > 3 * scales["default"]


def test_unknown_initialisation_is_refused():
    with pytest.raises(ValueError, match="init must be one of"):
        create_model("preact_resnet18_w16", num_classes=10, init="xavier")
