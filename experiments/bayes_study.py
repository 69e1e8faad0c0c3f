r"""The Bayesian last-layer study: ``python experiments/reproduce.py bayes --scale cpu``.

Does the mollified (augmented) likelihood give a better-calibrated posterior predictive under
corruption than the clean likelihood, and where does the cold-posterior effect go? For each
of two networks of a CPU Table 1 grid -- trained without and with data mollification, same
seed and augmentation (``experiments/bayes_study.yaml``) -- the penultimate features are
fixed and a Bayesian softmax layer (:mod:`probmoll.bayes`) is fitted with each likelihood:

``clean``
    categorical likelihood of the clean training images and their labels;
``mollified``
    soft-label likelihood of K mollified copies of each training image (noised or blurred
    by a random amount, labels smoothed to match; the network's mollifier settings), each
    image one datum (the Jensen / geometric scale 1/K);
``normalized``
    the same copies under the normalized (proper) soft-label likelihood (Appendix C),

at each posterior temperature T (the log-likelihood scaled by 1/T; T < 1 is a cold
posterior), by minibatch SVI with a low-rank Gaussian guide. Each posterior predictive is
scored on the first test images, clean and under the 15 benchmark corruptions (the grid's
generated set, its preset), by error, NLL and ECE, and by ELPD-LOO (``arviz.loo``, PSIS) of
the clean training labels, with ``arviz.compare`` of the likelihoods at each T. For the
mollified and normalized posteriors the LOO weights remove a clean-label term that was not
in the posterior, so their ELPD-LOO is an approximation; the Pareto k diagnostics say how
far to trust each. A NUTS check at T = 1 on the first training images (the network trained
with mollification) reports R-hat, ESS and divergences and how far SVI's posterior mean is
from NUTS's on the same problem.

Outputs (``<results>/bayes/``): ``bayes_<scale>.json`` (every number, with the command,
commit, seeds, settings and the networks' run folders), ``bayes_<scale>.md`` (the tables)
and ``bayes_<scale>_temperature.png`` (NLL and ECE against T), ``bayes_<scale>_loo.png``
(ELPD-LOO against T). Features are cached per network in ``<runs>/bayes/<scale>/``; a
record made with the current settings is not fitted again (a second call only rewrites the
files; delete the record to fit again).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from experiments.context import Context, TargetUnavailable
from experiments.runs import REPO, display_path
from experiments.study import StudyError, labels_match
from probmoll.train.state import read_run_status
from probmoll.train.sweep import run_sweep

__all__ = ["SETTINGS", "load_settings", "make"]

SETTINGS = REPO / "experiments" / "bayes_study.yaml"
# The likelihood of each study name: (form of probmoll.bayes, data: clean or mollified rows).
LIKELIHOOD_DATA = {
    "clean": ("ce", "clean"),
    "mollified": ("smooth", "mollified"),
    "normalized": ("normalized", "mollified"),
}
NETWORKS = {"off": "trained without mollification", "on": "trained with mollification"}


def load_settings(scale: str) -> dict[str, Any]:
    """The study's settings at ``scale`` (``tiny`` overrides ``base``; cpu is ``base``)."""
    if scale == "paper":
        raise TargetUnavailable(
            "bayes: the Bayesian study runs at CPU scale (and tiny); its features come "
            "from the CPU Table 1 networks"
        )
    raw = yaml.safe_load(SETTINGS.read_text())
    settings = dict(raw["base"])
    for key, value in (raw.get(scale) or {}).items():
        settings[key] = {**settings[key], **value} if isinstance(value, dict) else value
    unknown = [name for name in settings["likelihoods"] if name not in LIKELIHOOD_DATA]
    if unknown or not all(t > 0 for t in settings["temperatures"]):
        raise StudyError(f"{SETTINGS}: unknown likelihoods {unknown} or a temperature <= 0")
    return settings


# ---------------------------------------------------------------------- the networks
def _network_runs(ctx: Context, settings: dict[str, Any]) -> dict[str, Path]:
    """The run folders of the two networks, trained here first if they are missing."""
    stem = settings["grid"]
    spec = ctx.study.spec(stem)
    wanted = {}
    for key, enabled in (("off", "false"), ("on", "true")):
        where = {"augment": settings["augment"], "mollify.enabled": enabled}
        points = [
            p
            for p in spec.points
            if labels_match(p.labels, where) and p.labels.get("seed") == settings["seed"]
        ]
        if len(points) != 1:
            raise StudyError(
                f"bayes: {stem} has no single run with {where}, seed {settings['seed']}"
            )
        wanted[key] = points[0]
    todo = [p for p in wanted.values() if read_run_status(p.config.out) != "finished"]
    if todo and ctx.study.dry_run:
        print(f"bayes: would train {', '.join(p.name for p in todo)} ({stem})", file=ctx.study.log)
    elif todo and not ctx.study.train:
        names = ", ".join(p.name for p in todo)
        raise StudyError(f"bayes: needs the run folders (checkpoints) of {names} ({stem})")
    if todo and not ctx.study.dry_run:
        chosen = dataclasses.replace(spec, points=todo)
        if ctx.study.max_parallel and ctx.scale != "tiny":
            executor = {"name": "local", "max_parallel": ctx.study.max_parallel}
            chosen = dataclasses.replace(chosen, executor=executor)
        statuses = run_sweep(chosen, wait=True, log=ctx.study.log)
        failed = [name for name, status in statuses.items() if status != "finished"]
        if failed:
            raise StudyError(f"bayes: training failed for {', '.join(failed)}")
    return {key: Path(point.config.out) for key, point in wanted.items()}


def _features_folder(ctx: Context) -> Path:
    root = ctx.study.runs_root if ctx.scale == "tiny" else REPO / "runs"
    return root / "bayes" / ctx.scale


def network_features(run_dir: Path, settings: dict[str, Any], cache: Path, log) -> dict:
    """Features of the network in ``run_dir`` (cached in ``cache``): clean and mollified
    training rows, clean test images and every corruption cell."""
    from experiments.bayes_features import compute_features

    path = cache / f"{run_dir.name}.pt"
    keys = ("copies", "mollify_seed", "test_images", "severities")
    wanted = {key: settings[key] for key in keys}
    if path.is_file():
        stored = torch.load(path, weights_only=False)
        if stored.get("settings") == wanted and stored.get("run") == str(run_dir):
            return stored
    print(f"bayes: features of {display_path(run_dir)}", file=log, flush=True)
    features = compute_features(run_dir, **wanted)
    features.update(settings=wanted, run=str(run_dir))
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(features, partial)
    os.replace(partial, path)
    return features


# ------------------------------------------------------------------------- the fits
def _training_rows(features: dict, likelihood: str, images: int | None = None):
    """(features, targets, copies) of ``likelihood``'s training rows (the first ``images``)."""
    form, data = LIKELIHOOD_DATA[likelihood]
    if data == "clean":
        rows, labels = features["train"], features["train_labels"]
        if images is not None:
            rows, labels = rows[:images], labels[:images]
        return form, rows, labels, 1
    copies = features["settings"]["copies"]
    rows, targets = features["mollified"], features["mollified_targets"]
    if images is not None:  # k-major rows: copy k of image b is row k * N + b
        total = features["train"].shape[0]
        keep = torch.cat([torch.arange(images) + k * total for k in range(copies)])
        rows, targets = rows[keep], targets[keep]
    return form, rows, targets, copies


def _score(
    draws: dict, features: dict, n_bins: int, reference_class: int | None = None
) -> dict[str, float]:
    """Posterior-predictive error, NLL and ECE: clean, and the mean over corruption cells;
    with the standard error of each NLL (per-image NLL's sd / sqrt(n); for the corrupted
    mean, over all its rows, which treats the cells of an image as independent)."""
    from probmoll.bayes import posterior_predictive
    from probmoll.metrics import ClassificationMetrics

    labels = features["test_labels"]

    def metrics(rows):
        probs = posterior_predictive(draws, rows, chunk_size=16, reference_class=reference_class)
        log_probs = probs.clamp_min(1e-12).log()
        result = ClassificationMetrics(n_bins=n_bins).update(log_probs, labels).compute()
        return result, -log_probs.gather(1, labels[:, None]).squeeze(1)

    clean, clean_nll = metrics(features["test"])
    cells = [metrics(rows) for rows in features["corrupted"].values()]
    out = {f"clean.{m}": float(clean[m]) for m in ("error", "nll", "ece")}
    for m in ("error", "nll", "ece"):
        out[f"corrupted.{m}"] = float(np.mean([cell[m] for cell, _ in cells]))
    pooled = torch.cat([nll for _, nll in cells])
    out["clean.nll_se"] = float(clean_nll.std() / math.sqrt(clean_nll.numel()))
    out["corrupted.nll_se"] = float(pooled.std() / math.sqrt(pooled.numel()))
    return out


def _loo(posterior, features: dict) -> tuple[dict[str, float], Any]:
    """ELPD-LOO of the clean training labels (PSIS), and the InferenceData it came from."""
    import arviz

    from probmoll.bayes import to_inference_data

    data = to_inference_data(posterior, {"train": (features["train"], features["train_labels"])})
    with _arviz_warnings():
        loo = arviz.loo(data, var_name="train", pointwise=True)
    khat = np.asarray(loo.pareto_k)
    summary = {
        "elpd_loo": float(loo.elpd_loo),
        "elpd_loo_se": float(loo.se),
        "p_loo": float(loo.p_loo),
        "pareto_k_over_0.7": int((khat > 0.7).sum()),
        "rows": int(khat.size),
    }
    return summary, data


def _svi(rows, targets, svi: dict[str, Any], **model_options: Any):
    """``fit_svi`` with the study's SVI settings (seed 0)."""
    from probmoll.bayes import fit_svi

    return fit_svi(
        rows,
        targets,
        guide=svi["guide"],
        batch_size=min(svi["batch_size"], rows.shape[0]),
        num_steps=svi["steps"],
        learning_rate=svi["learning_rate"],
        num_samples=svi["samples"],
        seed=0,
        **model_options,
    )


def fit_all(features: dict, settings: dict[str, Any], log) -> tuple[list[dict], dict]:
    """Every likelihood x temperature for one network: scores, LOO and the comparisons."""
    import arviz

    svi = settings["svi"]
    num_classes = int(features["num_classes"])
    rows_out, compare = [], {}
    for temperature in settings["temperatures"]:
        fitted = {}
        for likelihood in settings["likelihoods"]:
            form, rows, targets, copies = _training_rows(features, likelihood)
            start = time.perf_counter()
            posterior = _svi(
                rows,
                targets,
                svi,
                num_classes=num_classes,
                likelihood=form,
                copies=copies,
                temperature=float(temperature),
                prior_scale=settings["prior_scale"],
            )
            seconds = time.perf_counter() - start
            scores = _score(posterior.draws, features, settings["n_bins"])
            loo, data = _loo(posterior, features)
            fitted[likelihood] = data
            rows_out.append(
                {
                    "likelihood": likelihood,
                    "temperature": float(temperature),
                    **scores,
                    **loo,
                    "svi_seconds": round(seconds, 1),
                }
            )
            print(
                f"  {likelihood:<10} T={temperature:<4} corrupted NLL "
                f"{scores['corrupted.nll']:.3f} ECE {100 * scores['corrupted.ece']:.1f}% "
                f"({seconds:.0f} s)",
                file=log,
                flush=True,
            )
        if len(fitted) > 1:
            with _arviz_warnings():
                table = arviz.compare(fitted, var_name="train", ic="loo")
            compare[str(float(temperature))] = {
                name: {
                    "rank": int(row["rank"]),
                    "elpd_diff": float(row["elpd_diff"]),
                    "dse": float(row["dse"]),
                }
                for name, row in table.iterrows()
            }
    return rows_out, compare


def diagnostics(inference_data):
    """``arviz.summary(..., kind="diagnostics")``; a chain that never moved has no
    within-chain variance, and its R-hat comes out inf or NaN instead of a division
    warning (the study records it as None: not converged)."""
    import arviz

    with np.errstate(divide="ignore", invalid="ignore"):
        return arviz.summary(inference_data, kind="diagnostics")


def nuts_check(features: dict, settings: dict[str, Any], log) -> list[dict]:
    """NUTS against SVI at T = 1 on the first training images: diagnostics and distance."""

    from experiments.bayes_outputs import r_hat_text
    from probmoll.bayes import sample_posterior

    nuts, svi = settings["nuts"], settings["svi"]
    num_classes = int(features["num_classes"])
    out = []
    for likelihood in nuts["likelihoods"]:
        form, rows, targets, copies = _training_rows(features, likelihood, nuts["images"])
        options = dict(
            num_classes=num_classes,
            likelihood=form,
            copies=copies,
            temperature=1.0,
            prior_scale=settings["prior_scale"],
            reference_class=nuts["reference_class"],
        )
        start = time.perf_counter()
        sampled = sample_posterior(
            rows,
            targets,
            num_samples=nuts["samples"],
            warmup=nuts["warmup"],
            num_chains=nuts["chains"],
            **options,
        )
        nuts_seconds = time.perf_counter() - start
        start = time.perf_counter()
        approx = _svi(rows, targets, svi, **options)
        svi_seconds = time.perf_counter() - start
        summary = diagnostics(sampled.inference_data)
        r_hat = float(summary["r_hat"].max())
        diverging = sampled.inference_data.sample_stats["diverging"].values
        mean = {n: sampled.draws[n].flatten(0, 1).mean(0) for n in ("weight", "bias")}
        other = {n: approx.draws[n].flatten(0, 1).mean(0) for n in ("weight", "bias")}
        gap = torch.cat([(mean[n] - other[n]).flatten() for n in mean]).norm()
        size = torch.cat([mean[n].flatten() for n in mean]).norm()
        nuts_scores = _score(sampled.draws, features, settings["n_bins"], nuts["reference_class"])
        svi_scores = _score(approx.draws, features, settings["n_bins"], nuts["reference_class"])
        out.append(
            {
                "likelihood": likelihood,
                "images": int(nuts["images"]),
                "rows": int(rows.shape[0]),
                "reference_class": nuts["reference_class"],
                "r_hat_max": r_hat if math.isfinite(r_hat) else None,  # None: inf or NaN
                "ess_bulk_min": float(summary["ess_bulk"].min()),
                "divergences": int(diverging.sum()),
                "converged": bool(r_hat <= 1.01 and diverging.sum() == 0),
                "mean_relative_gap": float(gap / size),
                "nuts": nuts_scores,
                "svi": svi_scores,
                "nuts_seconds": round(nuts_seconds, 1),
                "svi_seconds": round(svi_seconds, 1),
            }
        )
        print(
            f"  NUTS {likelihood}: R-hat max {r_hat_text(out[-1]['r_hat_max'])}, divergences "
            f"{out[-1]['divergences']}, SVI mean gap {out[-1]['mean_relative_gap']:.3f} "
            f"({nuts_seconds:.0f} s)",
            file=log,
            flush=True,
        )
    return out


# --------------------------------------------------------------------------- target
def make(ctx: Context, target: str) -> None:
    """The ``bayes`` target: fit, score and write ``<results>/bayes/``."""
    from experiments.bayes_outputs import write_outputs
    from probmoll.train.runlog import git_commit

    settings = load_settings(ctx.scale)
    folder = ctx.results_dir / "bayes"
    done = _finished_record(folder / f"bayes_{ctx.scale}.json", settings)
    if done is not None:  # fitted with these settings: only the files are written again
        print(
            f"bayes: {display_path(folder)}/bayes_{ctx.scale}.json holds these settings' fits "
            "(delete it to fit again)",
            file=ctx.study.log,
        )
        if not ctx.study.dry_run:
            ctx.written.extend(write_outputs(done, folder, ctx.scale))
        return
    runs = _network_runs(ctx, settings)
    if ctx.study.dry_run:
        print(
            f"bayes: would fit and write {display_path(folder)}/bayes_{ctx.scale}.*",
            file=ctx.study.log,
        )
        return
    log = ctx.study.log
    cache = _features_folder(ctx)
    torch.manual_seed(0)
    record: dict[str, Any] = {
        "command": ctx.command,
        "git_commit": git_commit(REPO),
        "settings": settings,
        "settings_file": str(display_path(SETTINGS)),
        "networks": {},
    }
    start = time.perf_counter()
    for key, run_dir in runs.items():
        features = network_features(run_dir, settings, cache, log)
        print(f"bayes: network {key} ({NETWORKS[key]}): {run_dir.name}", file=log, flush=True)
        fits, compare = fit_all(features, settings, log)
        entry = {
            "run": str(display_path(run_dir)),
            "run_commit": _run_commit(run_dir),
            "feature_dim": int(features["train"].shape[1]),
            "train_images": int(features["train"].shape[0]),
            "corruption_preset": features.get("corruption_preset"),
            "fits": fits,
            "compare": compare,
        }
        if key == "on":
            entry["nuts"] = nuts_check(features, settings, log)
        record["networks"][key] = entry
    record["wall_time_s"] = round(time.perf_counter() - start, 1)
    ctx.written.extend(write_outputs(record, ctx.results_dir / "bayes", ctx.scale))


@contextlib.contextmanager
def _arviz_warnings():
    """ArviZ 0.23 warns when a Pareto k is high (the study reports those counts instead),
    and its ``compare`` uses a pandas keyword that pandas 3.1 deprecates."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame")
        yield


def _finished_record(path: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The study's record at ``path`` when it was made with ``settings``, else None."""
    import json

    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("settings") == settings else None


def _run_commit(run_dir: Path) -> str | None:
    from experiments.runs import read_run_file

    return read_run_file(run_dir / "run.json").get("git_commit")
