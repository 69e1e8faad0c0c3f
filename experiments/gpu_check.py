"""GPU check: the cost of mollification and Table 1's FCR comparison, in 10 minutes on one GPU.

Run it through ``experiments/gpu_check.sh OUT`` (see there for what the machine must
provide); results go to ``OUT`` (default ``results/gpu-check/``):

1. ``throughput.json`` -- training-step throughput (images/s) of preact-ResNet-50 with the
   paper's recipe (``experiments/configs/cifar10.yaml``: batch 128, 32x32, 10 classes,
   bf16 autocast, channels-last, batched FCR) with mollification off and on. Every step is
   :meth:`probmoll.train.Trainer.train_step`, the engine's own step: uint8 batch on the
   device, FCR, standardisation, the :class:`~probmoll.mollify.Mollifier` on the device,
   forward, loss, backward, SGD. Warm-up steps are excluded; ``torch.cuda.synchronize``
   brackets every timed block; the two settings alternate over a few repeats and the
   medians give the overhead in percent. The mollifier call alone is timed too, and the
   throughput of the Table 1 model (preact-ResNet-18) sets the epochs of part 2.
2. ``runs/fcr-moll-{off,on}/`` -- Table 1's FCR row, mollification off and on, on the JPEG
   copy of CIFAR-10 with preact-ResNet-18, as many epochs as fit in the time left (the
   same for both), each a plain ``probmoll train --config OUT/table1.yaml`` run (its
   ``metrics.json``, ``run.json``, ``config.yaml``, ``log.csv``), evaluated on the first
   ``--eval-subset`` test images clean and under the 15 generated corruptions x 5
   severities with the ``cifar10-c`` severity preset (``eval.corruption_preset``, when the
   installed probmoll has it). The short schedule uses lr 0.05 (cosine), as the CPU
   recipes do, instead of the paper's 0.01 over 300 epochs.
3. ``summary.json`` / ``summary.md`` -- both parts side by side, with the timings of each
   phase, the device and the git commit.

``--dry-run`` (or ``PROBMOLL_GPU_CHECK_CPU=1``) runs every code path on the CPU with tiny
sizes (a narrow network, a few steps, synthetic images unless ``--data`` is given) in
seconds; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASE_CONFIG = REPO / "experiments" / "configs" / "cifar10.yaml"
DEFAULT_OUT = REPO / "results" / "gpu-check"
DEFAULT_CACHE = REPO / "cache" / "gpu-check"  # decoded images, generated corruptions
CPU_ENV = "PROBMOLL_GPU_CHECK_CPU"
# Modules both parts import; checked up front so that a bare machine fails at once.
REQUIRED_MODULES = ("torch", "numpy", "scipy", "yaml", "PIL", "cv2", "imagecorruptions", "numba")
RUNS = {"fcr-moll-off": False, "fcr-moll-on": True}
# Seconds kept free for each training process outside its epochs (start-up, data,
# checks, final evaluation), and once for generating the corruption set.
RUN_OVERHEAD_S = 45.0
GENERATION_S = 90.0
# An epoch takes longer than its steps at the measured rate (per-epoch evaluation,
# checkpoint, log); epochs are planned with this margin.
EPOCH_MARGIN = 1.3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT, help="output folder")
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="cifar10-jpeg.zip (default: $PROBMOLL_DATA/cifar10-jpeg.zip)",
    )
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="data cache")
    parser.add_argument("--budget-s", type=float, default=570.0, help="wall-clock budget (s)")
    parser.add_argument("--epochs", type=int, default=None, help="fix part 2's epochs")
    parser.add_argument("--max-epochs", type=int, default=40, help="cap on planned epochs")
    parser.add_argument("--eval-subset", type=int, default=1000, help="test images evaluated")
    parser.add_argument("--dry-run", action="store_true", help=f"CPU, tiny sizes (or {CPU_ENV}=1)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier check")
    args = parser.parse_args(argv)
    args.dry_run = args.dry_run or os.environ.get(CPU_ENV) == "1"
    # Absolute: the training processes run from the repository root.
    args.out, args.cache_dir = args.out.resolve(), args.cache_dir.resolve()
    if args.data is not None:
        args.data = args.data.resolve()
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args


def fail(message: str, status: int = 2) -> None:
    print(f"gpu_check: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def check_machine(args: argparse.Namespace) -> tuple[Path | None, object]:
    """Modules, device and data, before anything takes time; returns (zip or None, device)."""
    missing = [name for name in REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        fail(
            f"missing Python modules {missing} (nothing is installed here; use a prepared "
            f"environment: PYTHON=... or the repository's .venv)"
        )
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        fail(
            f"no CUDA device (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
            f"this check needs a GPU ({CPU_ENV}=1 or --dry-run runs it on the CPU)",
            3,
        )
    data = args.data
    if data is None and os.environ.get("PROBMOLL_DATA"):
        data = Path(os.environ["PROBMOLL_DATA"]) / "cifar10-jpeg.zip"
    if data is not None and not data.exists():
        fail(f"the CIFAR-10 JPEG copy {str(data)!r} does not exist")
    if data is None and not args.dry_run:
        fail(
            "the CIFAR-10 JPEG copy was not given: pass --data PATH/cifar10-jpeg.zip or set "
            "$PROBMOLL_DATA to its folder"
        )
    if args.out.exists() and any(args.out.iterdir()) and not args.overwrite:
        fail(f"{str(args.out)!r} already holds a check; pass --overwrite to replace it")
    return data, torch.device("cpu" if args.dry_run else "cuda")


# ------------------------------------------------------------------ part 1: throughput
def recipe(device, dry_run: bool, **overrides):
    """The paper's CIFAR-10 recipe (a :class:`~probmoll.train.TrainConfig`), tiny when dry."""
    from probmoll.train import load_config

    settings = {"out": "unused", "device": device.type, "progress": False}
    if dry_run:
        settings.update({"batch_size": 8, "threads": 1, "model.kwargs": {"width": 4}})
    settings.update(overrides)
    return load_config(BASE_CONFIG, [f"{k}={json.dumps(v)}" for k, v in settings.items()])


def build_trainer(config, device):
    """A :class:`~probmoll.train.Trainer` on random uint8 images kept on the device."""
    import torch

    from probmoll.models import data_info
    from probmoll.train import Trainer
    from probmoll.train.data import TrainData
    from probmoll.train.distributed import DistributedContext

    count = 8 * config.batch_size
    generator = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(
        0, 256, (count, 3, 32, 32), dtype=torch.uint8, device=device, generator=generator
    )
    labels = torch.randint(0, 10, (count,), device=device, generator=generator)
    mean, std = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
    data = TrainData(
        train_images=images,
        train_labels=labels,
        test_images=images[:1],
        test_labels=labels[:1],
        mean=torch.tensor(mean, device=device),
        std=torch.tensor(std, device=device),
        info=data_info("random", 10, 3, 32, mean, std),
        test_split=None,
    )
    return Trainer(config, data, device, DistributedContext())


def timed_steps(trainer, steps: int, device) -> float:
    """Seconds for ``steps`` training steps, the device synchronised before and after."""
    import torch

    batch = trainer.config.batch_size
    images, labels = trainer.data.train_images, trainer.data.train_labels
    batches = images.shape[0] // batch
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for step in range(steps):
        first = (step % batches) * batch
        trainer.train_step(images[first : first + batch], labels[first : first + batch])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def timed_mollifier(trainer, steps: int, device) -> float:
    """Seconds per call of the mollifier alone on one standardised batch."""
    import torch

    from probmoll.evaluate.core import standardize

    batch = trainer.config.batch_size
    inputs = standardize(trainer.data.train_images[:batch], trainer.data.mean, trainer.data.std)
    targets = trainer.data.train_labels[:batch]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.mollifier(inputs, targets, generator=trainer.augment_generator)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def measure_throughput(device, dry_run: bool) -> dict:
    """Part 1: images/s with mollification off and on, and the Table 1 model's rate."""
    from probmoll.train.runtime import torch_settings

    warmup, steps, repeats = (1, 2, 1) if dry_run else (30, 200, 3)
    configs = {
        "off": recipe(device, dry_run, **{"mollify.enabled": False}),
        "on": recipe(device, dry_run, **{"mollify.enabled": True}),
    }
    small = recipe(device, dry_run, **{"model.name": "preact_resnet18", "mollify.enabled": True})
    seconds = {mode: [] for mode in configs}
    with torch_settings(configs["on"], device):
        trainers = {mode: build_trainer(config, device) for mode, config in configs.items()}
        for trainer in trainers.values():
            timed_steps(trainer, warmup, device)
        for _ in range(repeats):  # alternate, so that drifts (clocks, heat) hit both
            for mode, trainer in trainers.items():
                seconds[mode].append(timed_steps(trainer, steps, device))
        mollifier_s = timed_mollifier(trainers["on"], steps, device)
        del trainers
        table1_trainer = build_trainer(small, device)
        timed_steps(table1_trainer, warmup, device)
        table1_s = timed_steps(table1_trainer, steps, device)
    batch = configs["on"].batch_size
    rates = {mode: [batch * steps / s for s in values] for mode, values in seconds.items()}
    median = {mode: statistics.median(values) for mode, values in rates.items()}
    return {
        "model": configs["on"].model.name,
        "model_kwargs": configs["on"].model.kwargs,
        "batch_size": batch,
        "image_size": [32, 32],
        "num_classes": 10,
        "precision": configs["on"].precision,
        "channels_last": configs["on"].channels_last,
        "augment": configs["on"].augment.policy,
        "mollify": dataclasses.asdict(configs["on"].mollify),
        "warmup_steps": warmup,
        "timed_steps": steps,
        "repeats": repeats,
        "images_per_s": rates,
        "median_images_per_s": median,
        "step_ms": {mode: 1000 * batch / rate for mode, rate in median.items()},
        "overhead_percent": 100 * (median["off"] / median["on"] - 1),
        "mollifier_call_ms": 1000 * mollifier_s,
        "table1_model": small.model.name,
        "table1_model_images_per_s": batch * steps / table1_s,
    }


# ------------------------------------------------------------------ part 2: Table 1 runs
def corruption_preset_supported() -> bool:
    from probmoll.train import EvalConfig

    return "corruption_preset" in {field.name for field in dataclasses.fields(EvalConfig)}


def table1_config(args, device, data: Path | None, epochs: int):
    """Table 1's FCR recipe for part 2, with ``mollify.enabled`` left to the command line."""
    settings = {
        "model.name": "preact_resnet18",
        "epochs": epochs,
        "optim.lr": 0.05,
        "checkpoint_every_steps": 100_000,  # the engine still checkpoints every epoch
        "data.cache_dir": str(args.cache_dir),
        "eval.corruptions": "generated",
        "eval.subset": args.eval_subset,
    }
    if corruption_preset_supported():
        settings["eval.corruption_preset"] = "cifar10-c"
    if data is not None:
        settings.update(
            {
                "data.name": "folder",
                "data.root": str(data),
                "data.options": {"name": "cifar10-jpeg"},
            }
        )
    else:
        settings.update({"data.name": "synthetic", "data.options": {"n": 256}})
    if args.dry_run:
        settings.update(
            {
                "batch_size": 32,
                "data.subset": 256,
                "eval.subset": 32,
                "eval.names": ["gaussian_noise", "contrast"],
                "eval.severities": [1],
                "eval.every_epochs": 0,
                "model.kwargs": {"width": 4},
            }
        )
    return recipe(device, args.dry_run, **settings)


def decode_splits(config) -> int:
    """Load both splits as the engine does (filling the cache); returns the training images."""
    from probmoll.data import load_dataset

    options = dict(
        root=config.data.root,
        cache_dir=config.data.cache_dir,
        download=config.data.download,
        **config.data.options,
    )
    train = load_dataset(config.data.name, "train", **options)
    load_dataset(config.data.name, "test", **options)
    subset = config.data.subset
    return len(train.labels) if subset is None else min(subset, len(train.labels))


def plan_epochs(args, rate: float, images: int, deadline: float) -> int:
    """Epochs that fit both runs before ``deadline`` at ``rate`` images/s."""
    if args.epochs is not None or args.dry_run:
        return args.epochs or 1
    left = deadline - time.monotonic() - GENERATION_S - len(RUNS) * RUN_OVERHEAD_S
    epoch_s = EPOCH_MARGIN * images / rate
    return max(1, min(args.max_epochs, math.floor(left / (len(RUNS) * epoch_s))))


def train_run(config_path: Path, run_dir: Path, mollify: bool, overwrite: bool, deadline: float):
    """``probmoll train`` in a fresh process, stopped with SIGTERM at ``deadline`` (the
    engine then checkpoints); returns (exit status, seconds)."""
    command = [
        sys.executable,
        "-m",
        "probmoll",
        "train",
        "--config",
        str(config_path),
        f"mollify.enabled={str(mollify).lower()}",
        f"out={run_dir}",
    ]
    if overwrite:
        command.append("--overwrite")
    # probmoll from this checkout, installed or not.
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=path)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    print("$ " + " ".join(command), flush=True)
    start = time.monotonic()
    with open(run_dir.parent / f"{run_dir.name}.log", "w") as log:
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            status = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"gpu_check: {run_dir.name} ran out of time; stopping it", flush=True)
            process.send_signal(signal.SIGTERM)
            try:
                status = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                status = process.wait()
    return status, time.monotonic() - start


def run_summary(run_dir: Path, status: int, seconds: float) -> dict:
    """The numbers of one run from its ``metrics.json`` and ``run.json``."""
    summary = {"exit_status": status, "seconds": seconds, "folder": str(run_dir)}
    for name in ("run.json", "metrics.json"):
        if not (run_dir / name).exists():
            return summary | {"missing": name}
    run = json.loads((run_dir / "run.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    summary.update(
        {key: run.get(key) for key in ("status", "epochs_completed", "steps", "wall_time_s")}
    )
    for split in ("clean", "corrupted"):
        values = metrics[split] if split == "clean" else metrics[split]["mean"]
        summary[split] = {key: values[key] for key in ("error", "nll", "ece")}
    summary["corrupted_by_category_error"] = {
        category: values["error"]
        for category, values in metrics["corrupted"]["by_category"].items()
    }
    summary["corruption_preset"] = run["config"]["eval"].get("corruption_preset")
    return summary


# ------------------------------------------------------------------ main
def markdown(summary: dict) -> str:
    speed = summary["throughput"]
    lines = [
        f"# GPU check ({summary['device']})\n",
        f"preact-ResNet-50 training step, batch {speed['batch_size']}, {speed['precision']}, "
        f"channels-last {speed['channels_last']}: {speed['median_images_per_s']['off']:.0f} "
        f"images/s without mollification, {speed['median_images_per_s']['on']:.0f} with: "
        f"overhead {speed['overhead_percent']:.1f}% (mollifier call "
        f"{speed['mollifier_call_ms']:.2f} ms per batch).\n",
        f"Table 1, FCR, {summary['table1']['dataset']}, {speed['table1_model']}, "
        f"{summary['table1']['epochs']} epochs, {summary['table1']['eval_subset']} test images, "
        f"corruption preset {summary['table1']['corruption_preset']}:\n",
        "| mollification | clean error | clean NLL | clean ECE | corr. error | corr. NLL "
        "| corr. ECE | status |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, run in summary["table1"]["runs"].items():
        if "clean" not in run:
            lines.append(f"| {name} | | | | | | | exit {run['exit_status']} |")
            continue
        clean, corrupted = run["clean"], run["corrupted"]
        lines.append(
            f"| {'on' if RUNS[name] else 'off'} | {100 * clean['error']:.1f} | {clean['nll']:.3f} "
            f"| {clean['ece']:.3f} | {100 * corrupted['error']:.1f} | {corrupted['nll']:.3f} "
            f"| {corrupted['ece']:.3f} | {run['status']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    started = time.monotonic()
    args = parse_args(argv)
    deadline = started + args.budget_s
    data, device = check_machine(args)
    args.out.mkdir(parents=True, exist_ok=True)

    import torch

    from probmoll.train.runlog import git_commit
    from probmoll.utils.io import atomic_write_json, atomic_write_text

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (dry run)"
    print(f"gpu_check: {name}; part 1, throughput", flush=True)
    timings = {"start_s": time.monotonic() - started}
    throughput = measure_throughput(device, args.dry_run)
    atomic_write_json(args.out / "throughput.json", throughput)
    timings["throughput_s"] = time.monotonic() - started - timings["start_s"]
    print(
        f"  {throughput['median_images_per_s']} images/s, overhead "
        f"{throughput['overhead_percent']:.1f}%",
        flush=True,
    )

    # Decode both splits into the cache now, so that the epochs are planned on the time
    # really left and neither run pays for it.
    train_images = decode_splits(table1_config(args, device, data, epochs=1))
    timings["decode_s"] = time.monotonic() - started - sum(timings.values())
    epochs = plan_epochs(args, throughput["table1_model_images_per_s"], train_images, deadline)
    config = table1_config(args, device, data, epochs)
    from probmoll.train import dump_config

    config_path = args.out / "table1.yaml"
    atomic_write_text(config_path, dump_config(config))
    print(f"gpu_check: part 2, Table 1 FCR off/on, {epochs} epochs each", flush=True)
    runs = {}
    for run_name, mollify in RUNS.items():
        run_dir = args.out / "runs" / run_name
        status, seconds = train_run(config_path, run_dir, mollify, args.overwrite, deadline)
        runs[run_name] = run_summary(run_dir, status, seconds)
        print(f"  {run_name}: exit {status} after {seconds:.0f} s", flush=True)
    timings["total_s"] = time.monotonic() - started
    summary = {
        "command": "experiments/gpu_check.sh " + " ".join(args.argv),
        "dry_run": args.dry_run,
        "device": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "git_commit": git_commit(),
        "budget_s": args.budget_s,
        "timings_s": timings,
        "throughput": throughput,
        "table1": {
            "dataset": "synthetic" if data is None else "CIFAR-10 (JPEG copy)",
            "config": str(config_path),
            "model": config.model.name,
            "epochs": epochs,
            "eval_subset": config.eval.subset,
            "corruption_preset": getattr(config.eval, "corruption_preset", None)
            or "generator default (imagenet-c constants)",
            "runs": runs,
        },
    }
    atomic_write_json(args.out / "summary.json", summary)
    atomic_write_text(args.out / "summary.md", markdown(summary))
    print(markdown(summary), flush=True)
    return 0 if all(run["exit_status"] == 0 for run in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
