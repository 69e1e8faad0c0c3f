"""ClassificationMetrics: exact over a split, whatever the batching, merging or process split."""

import io

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from probmoll.metrics import ClassificationMetrics
from probmoll.metrics import functional as F

NUM_EXAMPLES, NUM_CLASSES = 1000, 10


@pytest.fixture(scope="module")
def problem():
    generator = torch.Generator().manual_seed(0)
    logits = 2.5 * torch.randn(NUM_EXAMPLES, NUM_CLASSES, generator=generator)
    labels = torch.randint(NUM_CLASSES, (NUM_EXAMPLES,), generator=generator)
    # Make a few predictions saturated so that the last bin and its edge are exercised.
    logits[:5] = torch.nn.functional.one_hot(labels[:5], NUM_CLASSES) * 1000.0
    return logits, labels


def accumulate(logits, labels, batch_size, **kwargs) -> ClassificationMetrics:
    metrics = ClassificationMetrics(**kwargs)
    for start in range(0, len(labels), batch_size):
        metrics.update(logits[start : start + batch_size], labels[start : start + batch_size])
    return metrics


def test_compute_equals_the_functional_metrics_of_the_whole_split(problem):
    logits, labels = problem
    result = accumulate(logits, labels, batch_size=NUM_EXAMPLES).compute()
    assert result["count"] == NUM_EXAMPLES
    for name, metric in [("error", F.error), ("nll", F.nll), ("brier", F.brier), ("ece", F.ece)]:
        assert result[name] == pytest.approx(metric(logits, labels).item(), rel=1e-12, abs=1e-15)
    assert result["accuracy"] == pytest.approx(1 - result["error"])
    assert result["mean_confidence"] == pytest.approx(F.confidence(logits).mean().item(), rel=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, 100, NUM_EXAMPLES])
def test_results_do_not_depend_on_the_batch_size(problem, batch_size):
    logits, labels = problem
    reference = accumulate(logits, labels, batch_size=NUM_EXAMPLES).compute()
    result = accumulate(logits, labels, batch_size=batch_size).compute()
    assert result.keys() == reference.keys()
    for name, value in reference.items():
        assert result[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_per_batch_ece_average_differs_from_the_split_ece(problem):
    # The pitfall the accumulator avoids: averaging per-batch ECE is not the ECE.
    logits, labels = problem
    per_batch = torch.stack(
        [F.ece(logits[i : i + 10], labels[i : i + 10]) for i in range(0, 1000, 10)]
    )
    split_ece = accumulate(logits, labels, batch_size=10).compute()["ece"]
    assert abs(per_batch.mean().item() - split_ece) > 0.02


def test_merge_equals_a_single_pass(problem):
    logits, labels = problem
    single = accumulate(logits, labels, batch_size=128)
    parts = [
        accumulate(logits[i : i + 300], labels[i : i + 300], batch_size=64)
        for i in (0, 300, 600, 900)
    ]
    merged = ClassificationMetrics()
    for part in parts:
        merged.merge(part)
    assert merged.num_classes == NUM_CLASSES
    assert merged.compute() == pytest.approx(single.compute(), rel=1e-12, abs=1e-15)
    torch.testing.assert_close(
        merged.reliability_diagram().count, single.reliability_diagram().count
    )


def test_empty_batches_change_nothing(problem):
    logits, labels = problem
    metrics = accumulate(logits, labels, batch_size=NUM_EXAMPLES)
    before = metrics.compute()
    metrics.update(logits[:0], labels[:0])
    assert metrics.compute() == before


def test_state_dict_round_trip_through_torch_save(problem):
    logits, labels = problem
    metrics = accumulate(logits[:500], labels[:500], batch_size=50)
    buffer = io.BytesIO()
    torch.save(metrics.state_dict(), buffer)
    buffer.seek(0)
    restored = ClassificationMetrics().load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.compute() == metrics.compute()
    # Continue accumulating after the restore: same as one uninterrupted pass.
    restored.update(logits[500:], labels[500:])
    assert restored.compute() == pytest.approx(
        accumulate(logits, labels, batch_size=NUM_EXAMPLES).compute(), rel=1e-12, abs=1e-15
    )


def test_reset_forgets_everything(problem):
    logits, labels = problem
    metrics = accumulate(logits, labels, batch_size=250).reset()
    assert metrics.count == 0
    with pytest.raises(ValueError, match="no examples"):
        metrics.compute()


def test_bad_use_is_refused(problem):
    logits, labels = problem
    with pytest.raises(ValueError, match="num_classes = 10"):
        ClassificationMetrics(num_classes=10).update(logits[:, :5], labels.clamp(max=4))
    metrics = ClassificationMetrics().update(logits, labels)
    with pytest.raises(ValueError, match="C = 5"):
        metrics.update(logits[:, :5], labels.clamp(max=4))
    with pytest.raises(ValueError, match="n_bins 10"):
        metrics.merge(ClassificationMetrics(n_bins=10))
    with pytest.raises(ValueError, match="3 classes"):
        metrics.merge(ClassificationMetrics(num_classes=3))
    with pytest.raises(TypeError, match="dict"):
        metrics.merge({})
    with pytest.raises(ValueError, match="n_bins 15"):
        ClassificationMetrics(n_bins=10).load_state_dict(metrics.state_dict())
    with pytest.raises(ValueError, match="num_classes"):
        ClassificationMetrics(num_classes=1)
    with pytest.raises(ValueError, match="n_bins"):
        ClassificationMetrics(n_bins=0)
    with pytest.raises(TypeError, match="float32"):
        metrics.update(logits, labels.float())


def test_all_reduce_without_distributed_is_a_no_op(problem):
    logits, labels = problem
    metrics = accumulate(logits, labels, batch_size=NUM_EXAMPLES)
    before = metrics.compute()
    assert not dist.is_initialized()
    assert metrics.all_reduce().compute() == before


def _all_reduce_worker(rank: int, world_size: int, store_path: str, out_path: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{store_path}", rank=rank, world_size=world_size
    )
    try:
        generator = torch.Generator().manual_seed(0)
        logits = 2.5 * torch.randn(NUM_EXAMPLES, NUM_CLASSES, generator=generator)
        labels = torch.randint(NUM_CLASSES, (NUM_EXAMPLES,), generator=generator)
        # Uneven shards, different batch sizes per rank.
        shard = slice(0, 371) if rank == 0 else slice(371, NUM_EXAMPLES)
        metrics = accumulate(logits[shard], labels[shard], batch_size=13 + 50 * rank)
        metrics.all_reduce()
        torch.save(metrics.compute(), f"{out_path}.{rank}")
    finally:
        dist.destroy_process_group()


def test_all_reduce_over_two_gloo_processes_equals_a_single_pass(tmp_path):
    world_size = 2
    out_path = str(tmp_path / "result")
    mp.spawn(
        _all_reduce_worker,
        args=(world_size, str(tmp_path / "store"), out_path),
        nprocs=world_size,
        join=True,
    )
    generator = torch.Generator().manual_seed(0)
    logits = 2.5 * torch.randn(NUM_EXAMPLES, NUM_CLASSES, generator=generator)
    labels = torch.randint(NUM_CLASSES, (NUM_EXAMPLES,), generator=generator)
    expected = accumulate(logits, labels, batch_size=NUM_EXAMPLES).compute()
    for rank in range(world_size):
        result = torch.load(f"{out_path}.{rank}", weights_only=True)
        assert result == pytest.approx(expected, rel=1e-12, abs=1e-15)
