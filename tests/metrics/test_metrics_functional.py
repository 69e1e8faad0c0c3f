"""Pure metric functions: hand-computed cases, independent references, bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax
from torchmetrics.classification import MulticlassCalibrationError

from probmoll.metrics import functional as F


def random_problem(seed: int, batch: int = 500, num_classes: int = 10, scale: float = 3.0):
    generator = torch.Generator().manual_seed(seed)
    logits = scale * torch.randn(batch, num_classes, generator=generator)
    labels = torch.randint(num_classes, (batch,), generator=generator)
    return logits, labels


# ------------------------------------------------------------------ bin edges
def test_bin_edges_are_equal_width_on_unit_interval():
    edges = F.bin_edges(15)
    assert edges.dtype == torch.float64
    np.testing.assert_allclose(edges.numpy(), np.arange(16) / 15, rtol=0, atol=1e-15)
    assert edges[0] == 0.0 and edges[-1] == 1.0


def test_confidence_one_lands_in_last_bin_and_zero_in_first():
    count, confidence_sum, correct_sum = F.calibration_bins(
        torch.tensor([1.0, 0.0]), torch.tensor([True, False]), n_bins=15
    )
    expected_count = torch.zeros(15, dtype=torch.float64)
    expected_count[0] = expected_count[14] = 1
    torch.testing.assert_close(count, expected_count)
    assert confidence_sum[14] == 1.0 and confidence_sum[0] == 0.0
    assert correct_sum[14] == 1.0 and correct_sum[0] == 0.0


def test_confidence_on_an_interior_edge_lands_in_the_lower_bin():
    edges = F.bin_edges(15)
    on_edges = edges[1:-1]  # e_1 ... e_14, each belongs to the bin below it
    count, _, _ = F.calibration_bins(on_edges, torch.ones(14, dtype=torch.bool), n_bins=15)
    expected = torch.ones(15, dtype=torch.float64)
    expected[14] = 0  # e_14 belongs to bin 13; nothing lands in the last bin
    torch.testing.assert_close(count, expected)


def test_ece_hand_computed_with_exact_zero_and_one_confidence():
    # Bin 14: confidences 1.0 (right) and 1.0 (wrong) -> |0.5 - 1.0| * 2/4.
    # Bin 0:  confidence 0.0 (wrong) -> |0 - 0| * 1/4.
    # Bin 7 (7/15 < 0.5 <= 8/15): confidence 0.5 (right) -> |1 - 0.5| * 1/4.
    confidences = torch.tensor([1.0, 1.0, 0.0, 0.5], dtype=torch.float64)
    correct = torch.tensor([1, 0, 0, 1])
    bins = F.calibration_bins(confidences, correct, n_bins=15)
    assert bins[0][7] == 1
    assert F.ece_from_bins(*bins).item() == pytest.approx(0.375, abs=1e-15)
    assert F.max_calibration_error_from_bins(*bins).item() == pytest.approx(0.5, abs=1e-15)


def test_ece_from_logits_with_saturated_confidence():
    # softmax([0, -1000]) is exactly (1, 0) in float64: confidence 1.0, last bin.
    logits = torch.tensor([[0.0, -1000.0], [0.0, -1000.0], [0.0, -1000.0], [2.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 0])
    confidence = F.confidence(logits)
    assert confidence[:3].eq(1.0).all()
    p = 1 / (1 + math.exp(-2.0))  # 0.8808 -> bin 13 of 15
    diagram = F.reliability_diagram(logits, labels)
    assert diagram.count[14] == 3 and diagram.count[13] == 1
    assert diagram.accuracy[14].item() == pytest.approx(2 / 3)
    expected = 3 / 4 * abs(2 / 3 - 1.0) + 1 / 4 * abs(1.0 - p)
    assert F.ece(logits, labels).item() == pytest.approx(expected, abs=1e-12)


def test_uniform_prediction_on_the_middle_edge_with_two_bins():
    # C = 2, equal logits: confidence exactly 0.5 = e_1 of two bins -> lower bin.
    logits = torch.zeros(6, 2)
    labels = torch.tensor([0, 0, 0, 0, 1, 1])  # argmax ties go to class 0: accuracy 4/6
    diagram = F.reliability_diagram(logits, labels, n_bins=2)
    torch.testing.assert_close(diagram.count, torch.tensor([6.0, 0.0], dtype=torch.float64))
    assert math.isnan(diagram.accuracy[1]) and math.isnan(diagram.mean_confidence[1])
    assert F.ece(logits, labels, n_bins=2).item() == pytest.approx(abs(4 / 6 - 0.5))
    assert F.error(logits, labels).item() == pytest.approx(2 / 6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("num_classes", [2, 10, 100])
def test_ece_matches_torchmetrics_on_random_data(seed, num_classes):
    logits, labels = random_problem(seed, batch=2000, num_classes=num_classes)
    reference = MulticlassCalibrationError(num_classes=num_classes, n_bins=15, norm="l1")
    expected = reference(torch.softmax(logits.double(), dim=-1), labels)
    # torchmetrics works in float32; probmoll in float64.
    assert F.ece(logits, labels).item() == pytest.approx(expected.item(), abs=1e-6)


# -------------------------------------------------------- direct numpy formulas
@pytest.mark.parametrize("seed", [0, 1])
def test_error_nll_brier_match_numpy_formulas(seed):
    logits, labels = random_problem(seed, batch=300, num_classes=7)
    x, y = logits.double().numpy(), labels.numpy()
    probabilities = scipy_softmax(x, axis=1)
    one_hot = np.eye(7)[y]
    assert F.error(logits, labels).item() == pytest.approx(np.mean(x.argmax(1) != y), abs=1e-15)
    expected_nll = -np.mean(scipy_log_softmax(x, axis=1)[np.arange(len(y)), y])
    assert F.nll(logits, labels).item() == pytest.approx(expected_nll, rel=1e-12)
    expected_brier = np.mean(np.sum((probabilities - one_hot) ** 2, axis=1))
    assert F.brier(logits, labels).item() == pytest.approx(expected_brier, rel=1e-12)
    np.testing.assert_allclose(F.confidence(logits).numpy(), probabilities.max(1), rtol=1e-12)


def test_closed_forms_for_a_uniform_prediction():
    # p = 1/C for every class: NLL = log C, Brier = (1 - 1/C)^2 + (C - 1)/C^2 = 1 - 1/C.
    num_classes = 5
    logits = torch.zeros(4, num_classes)
    labels = torch.tensor([0, 1, 2, 3])
    assert F.nll(logits, labels).item() == pytest.approx(math.log(num_classes), rel=1e-14)
    assert F.brier(logits, labels).item() == pytest.approx(1 - 1 / num_classes, rel=1e-14)


def test_metrics_are_float64_even_for_bfloat16_logits():
    logits, labels = random_problem(0, batch=64)
    for metric in (F.error, F.nll, F.brier, F.ece):
        value = metric(logits.to(torch.bfloat16), labels)
        assert value.dtype == torch.float64 and value.ndim == 0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 60),
    num_classes=st.integers(2, 12),
    scale=st.floats(0.0, 20.0),
)
def test_calibration_identities(seed, batch, num_classes, scale):
    logits, labels = random_problem(seed, batch, num_classes, scale)
    diagram = F.reliability_diagram(logits, labels)
    confidence = F.confidence(logits)
    assert diagram.count.sum().item() == batch
    occupied = diagram.count > 0
    total_confidence = (diagram.count[occupied] * diagram.mean_confidence[occupied]).sum()
    assert total_confidence.item() == pytest.approx(confidence.sum().item(), rel=1e-12)
    ece = F.ece(logits, labels).item()
    assert 0.0 <= ece <= 1.0
    # With one bin, ECE is |accuracy - mean confidence|.
    accuracy = 1 - F.error(logits, labels).item()
    one_bin = F.ece(logits, labels, n_bins=1).item()
    assert one_bin == pytest.approx(abs(accuracy - confidence.mean().item()), abs=1e-12)
    # Merging bins can only cancel gaps (triangle inequality): ECE(1 bin) <= ECE(15 bins).
    assert one_bin <= ece + 1e-12


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("logits", "labels", "error_type", "match"),
    [
        (torch.zeros(4), torch.zeros(4, dtype=torch.long), ValueError, r"shape \(B, C\).*\(4,\)"),
        (torch.zeros(4, 3), torch.zeros(4), TypeError, "integer class indices.*float32"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.bool), TypeError, "torch.bool"),
        (torch.zeros(4, 3), torch.zeros(4, 3, dtype=torch.long), ValueError, r"\(4, 3\)"),
        (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), ValueError, r"\(5,\)"),
        (torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long), TypeError, "int64"),
        (torch.zeros(4, 1), torch.zeros(4, dtype=torch.long), ValueError, "at least 2 classes"),
        (torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), ValueError, "empty"),
        (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]), ValueError, r"\[0, 2\].*got 3"),
        (torch.zeros(4, 3), torch.tensor([0, -1, 2, 1]), ValueError, "got -1"),
        (torch.tensor([[0.0, float("nan")]]), torch.tensor([0]), ValueError, r"NaN.*\[0\]"),
        (torch.tensor([[0.0, 1.0], [float("inf"), 0]]), torch.tensor([0, 1]), ValueError, r"\[1\]"),
        (np.zeros((4, 3)), torch.zeros(4, dtype=torch.long), TypeError, "ndarray"),
        (torch.zeros(4, 3), torch.zeros(4, dtype=torch.long, device="meta"), ValueError, "meta"),
    ],
)
@pytest.mark.parametrize("metric", [F.error, F.nll, F.brier, F.ece, F.reliability_diagram])
def test_bad_input_is_refused(metric, logits, labels, error_type, match):
    with pytest.raises(error_type, match=match):
        metric(logits, labels)


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True])
def test_bad_bin_count_is_refused(n_bins):
    logits, labels = random_problem(0, batch=8)
    with pytest.raises(ValueError, match="n_bins"):
        F.ece(logits, labels, n_bins=n_bins)


def test_confidences_outside_unit_interval_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\].*1\.5"):
        F.calibration_bins(torch.tensor([0.5, 1.5]), torch.tensor([1, 0]))
