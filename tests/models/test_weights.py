"""initialize_from: trained weights into a fresh model; only another head may differ."""

import pytest
import torch

from probmoll.models import (
    check_weights_source,
    classifier_head,
    create_model,
    data_info,
    initialize_from,
    load_weights,
    save_checkpoint,
)

KWARGS = {"in_channels": 3, "image_size": 32, "width": 4}


def build(num_classes=4, seed=0, **kwargs):
    torch.manual_seed(seed)
    return create_model("preact_resnet18", num_classes=num_classes, **{**KWARGS, **kwargs})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A run folder holding a 4-class model (seed 1) with non-trivial BatchNorm statistics."""
    folder = tmp_path_factory.mktemp("source")
    model = build(seed=1)
    with torch.no_grad():
        model(torch.randn(8, 3, 32, 32))  # running statistics move away from 0 and 1
    save_checkpoint(
        folder / "checkpoint.pt",
        model=model,
        model_name="preact_resnet18",
        model_kwargs={"num_classes": 4, **KWARGS},
        data=data_info("synthetic", 4, 3, 32, (0.5,) * 3, (0.25,) * 3),
        extra={"step": 16},
    )
    return folder, model.state_dict()


def assert_equal_states(actual, expected, keys):
    for key in keys:
        assert torch.equal(actual[key], expected[key]), key


def test_a_run_folder_gives_every_weight_and_buffer(source):
    folder, expected = source
    model = build(seed=0)
    record = initialize_from(model, folder)
    assert_equal_states(model.state_dict(), expected, expected)
    assert record == {
        "source": str((folder / "checkpoint.pt").resolve()),
        "kind": "checkpoint",
        "model": "preact_resnet18",
        "step": 16,
        "reinitialized": [],
    }


def test_a_state_dict_file(source, tmp_path):
    _, expected = source
    path = tmp_path / "weights.pth"
    torch.save(expected, path)
    model = build(seed=0)
    assert initialize_from(model, path)["kind"] == "state_dict"
    assert_equal_states(model.state_dict(), expected, expected)


def test_another_number_of_classes_keeps_only_the_fresh_head(source):
    folder, expected = source
    fresh = build(num_classes=7, seed=0).state_dict()
    model = build(num_classes=7, seed=0)
    record = initialize_from(model, folder)
    assert classifier_head(model) == "fc"
    assert record["reinitialized"] == ["fc.bias", "fc.weight"]
    assert record["source_classes"] == 4
    state = model.state_dict()
    body = [key for key in expected if not key.startswith("fc.")]
    assert_equal_states(state, expected, body)
    assert_equal_states(state, fresh, ["fc.weight", "fc.bias"])
    assert state["fc.weight"].shape == (7, expected["fc.weight"].shape[1])


def test_another_architecture_is_one_clear_error(source):
    folder, _ = source
    model = build(seed=0, width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"a 'preact_resnet18'.*shapes differ for stem.weight"):
        initialize_from(model, folder)
    assert_equal_states(model.state_dict(), before, before)  # left as it was


def test_missing_and_unexpected_tensors_are_named(source, tmp_path):
    _, expected = source
    partial = {k: v for k, v in expected.items() if k != "final_bn.weight"}
    partial["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(partial, path)
    with pytest.raises(ValueError, match="missing final_bn.weight; unexpected extra.weight"):
        initialize_from(build(), path)


@pytest.mark.parametrize(
    "name,error,match",
    [
        ("missing/run", FileNotFoundError, "neither a file or run folder nor a torchvision"),
        ("ResNet50_Weights.NOPE", ValueError, "not a torchvision weights name"),
        ("Nope_Weights.IMAGENET1K_V1", ValueError, "not a torchvision weights name"),
    ],
)
def test_bad_sources_are_refused_before_reading(name, error, match):
    with pytest.raises(error, match=match):
        check_weights_source(name)


def test_sources_are_classified(source, tmp_path):
    folder, _ = source
    assert check_weights_source(folder) == "file"
    assert check_weights_source("ResNet50_Weights.IMAGENET1K_V2") == "torchvision"
    with pytest.raises(FileNotFoundError, match="holds no checkpoint.pt"):
        check_weights_source(tmp_path)


def test_a_file_of_something_else_is_refused(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(ValueError, match="neither a probmoll checkpoint nor a state dict"):
        load_weights(path)
