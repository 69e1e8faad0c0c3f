"""The files of the Bayesian study (``experiments/bayes_study.py``): its record as JSON, its
tables as markdown, and two figures -- posterior-predictive NLL and ECE against the posterior
temperature T, and ELPD-LOO against T -- drawn from the record alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from probmoll.utils.io import atomic_write_json, atomic_write_text

__all__ = ["findings", "markdown", "r_hat_text", "report_lines", "write_outputs"]

NETWORK_TITLES = {
    "off": "network trained without mollification",
    "on": "trained with mollification",
}


def write_outputs(record: Mapping[str, Any], folder: Path, scale: str) -> list[Path]:
    """``bayes_<scale>.json``, ``.md`` and the two figures in ``folder``; returns them."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"bayes_{scale}"
    written = [atomic_write_json(Path(f"{stem}.json"), dict(record))]
    written.append(atomic_write_text(Path(f"{stem}.md"), markdown(record, scale)))
    written.append(_temperature_figure(record, Path(f"{stem}_temperature.png")))
    written.append(_loo_figure(record, Path(f"{stem}_loo.png")))
    return written


def r_hat_text(value: float | None) -> str:
    """R-hat as printed: ``inf`` where ArviZ found none (``None`` in the record)."""
    return "inf" if value is None else f"{value:.3f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def markdown(record: Mapping[str, Any], scale: str) -> str:
    """The study's tables: every fit, the LOO comparison and the NUTS check."""
    settings = record["settings"]
    svi = settings["svi"]
    lines = [
        f"# Bayesian last layer: likelihoods and posterior temperature ({scale} scale)",
        "",
        f"Command: `{record['command']}`; commit `{record['git_commit']}`; settings "
        f"`{record['settings_file']}` ({scale}); wall time {record['wall_time_s'] / 60:.1f} "
        "minutes.",
        "",
        f"A Bayesian softmax layer over the fixed penultimate features of two networks of "
        f"`{settings['grid']}` ({settings['augment']}, seed {settings['seed']}), prior "
        f"N(0, {settings['prior_scale']}^2) on every weight and bias, fitted by minibatch SVI "
        f"({svi['guide']} guide, {svi['steps']} steps of {svi['batch_size']} rows, "
        f"{svi['samples']} posterior draws). Likelihoods: `clean` (categorical, clean "
        f"images), `mollified` (soft labels of K = {settings['copies']} mollified copies per "
        "image, scale 1/K), `normalized` (the same copies, normalized likelihood). T < 1 is a "
        f"cold posterior. Scored on the first {settings['test_images']} test images, clean and "
        f"under the 15 benchmark corruptions at severities {settings['severities']} (mean "
        "over the corruption cells). ELPD-LOO: PSIS-LOO of the clean training labels; "
        "`k>0.7` counts the observations whose Pareto k makes their LOO term unreliable.",
        "",
    ]
    for key, network in record["networks"].items():
        lines += [
            f"## {NETWORK_TITLES.get(key, key)}",
            "",
            f"Run `{network['run']}` (commit `{network['run_commit']}`), "
            f"{network['train_images']} training images, {network['feature_dim']} features, "
            f"corruption preset {network['corruption_preset']}.",
            "",
            "| likelihood | T | clean err % | clean NLL | clean ECE % | corr. err % | "
            "corr. NLL | corr. ECE % | ELPD-LOO (SE) | p_loo | k>0.7 | SVI s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for fit in network["fits"]:
            lines.append(
                f"| {fit['likelihood']} | {fit['temperature']:g} | {_pct(fit['clean.error'])} | "
                f"{fit['clean.nll']:.3f} | {_pct(fit['clean.ece'])} | "
                f"{_pct(fit['corrupted.error'])} | {fit['corrupted.nll']:.3f} | "
                f"{_pct(fit['corrupted.ece'])} | {fit['elpd_loo']:.1f} ({fit['elpd_loo_se']:.1f}) "
                f"| {fit['p_loo']:.1f} | {fit['pareto_k_over_0.7']} | {fit['svi_seconds']:g} |"
            )
        lines.append("")
        if network.get("compare"):
            lines += [
                "`arviz.compare` (LOO) of the likelihoods at each T: rank, ELPD difference to "
                "the best (SE of the difference).",
                "",
                "| T | " + " | ".join(next(iter(network["compare"].values()))) + " |",
                "| --- |" + " --- |" * len(next(iter(network["compare"].values()))),
            ]
            for temperature, table in network["compare"].items():
                cells = [
                    f"{row['rank']}: {row['elpd_diff']:.1f} ({row['dse']:.1f})"
                    for row in table.values()
                ]
                lines.append(f"| {float(temperature):g} | " + " | ".join(cells) + " |")
            lines.append("")
        if network.get("nuts"):
            lines += [
                "NUTS check at T = 1 (the first training images; class "
                f"{network['nuts'][0].get('reference_class')}'s logit pinned to 0 in both "
                "fits): diagnostics, and the posterior predictive of NUTS and of SVI on the "
                "same problem.",
                "",
                "| likelihood | rows | R-hat max | ESS bulk min | divergences | converged | "
                "SVI mean gap | corr. NLL NUTS / SVI | corr. ECE % NUTS / SVI | NUTS s | SVI s |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for check in network["nuts"]:
                nuts, svi_scores = check["nuts"], check["svi"]
                lines.append(
                    f"| {check['likelihood']} | {check['rows']} | "
                    f"{r_hat_text(check['r_hat_max'])} | "
                    f"{check['ess_bulk_min']:.0f} | {check['divergences']} | "
                    f"{'yes' if check['converged'] else '**no**'} | "
                    f"{check['mean_relative_gap']:.3f} | {nuts['corrupted.nll']:.3f} / "
                    f"{svi_scores['corrupted.nll']:.3f} | {_pct(nuts['corrupted.ece'])} / "
                    f"{_pct(svi_scores['corrupted.ece'])} | {check['nuts_seconds']:g} | "
                    f"{check['svi_seconds']:g} |"
                )
            lines += [
                "",
                "SVI mean gap: |mean_SVI - mean_NUTS| / |mean_NUTS| over all weights and "
                "biases. Converged: R-hat <= 1.01 and no divergence.",
                "",
            ]
    return "\n".join(lines)


def _series(network: Mapping[str, Any], likelihood: str, key: str) -> tuple[list, list]:
    fits = sorted(
        (f for f in network["fits"] if f["likelihood"] == likelihood),
        key=lambda f: f["temperature"],
    )
    return [f["temperature"] for f in fits], [f[key] for f in fits]


def _likelihoods(record: Mapping[str, Any]) -> list[str]:
    return list(record["settings"]["likelihoods"])


def _temperature_figure(record: Mapping[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("clean.nll", "clean NLL"),
        ("corrupted.nll", "corrupted NLL"),
        ("clean.ece", "clean ECE"),
        ("corrupted.ece", "corrupted ECE"),
    ]
    figure, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    styles = {"off": "--", "on": "-"}
    for ax, (key, title) in zip(axes, panels, strict=True):
        for network_key, network in record["networks"].items():
            for index, likelihood in enumerate(_likelihoods(record)):
                x, y = _series(network, likelihood, key)
                ax.plot(
                    x,
                    y,
                    styles.get(network_key, ":"),
                    marker="o",
                    color=f"C{index}",
                    label=f"{likelihood}, {NETWORK_TITLES.get(network_key, network_key)}",
                )
        ax.set_xscale("log")
        ax.axvline(1.0, color="0.7", linewidth=0.8)
        ax.set_xlabel("posterior temperature T")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    figure.suptitle("Posterior predictive of the Bayesian last layer against T (T < 1: cold)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _loo_figure(record: Mapping[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        1, len(record["networks"]), figsize=(5 * len(record["networks"]), 3.6)
    )
    axes = list(axes) if len(record["networks"]) > 1 else [axes]
    for ax, (network_key, network) in zip(axes, record["networks"].items(), strict=True):
        for index, likelihood in enumerate(_likelihoods(record)):
            x, y = _series(network, likelihood, "elpd_loo")
            _, se = _series(network, likelihood, "elpd_loo_se")
            ax.errorbar(x, y, yerr=se, marker="o", color=f"C{index}", label=likelihood, capsize=3)
        ax.set_xscale("log")
        ax.set_xlabel("posterior temperature T")
        ax.set_ylabel("ELPD-LOO (clean training labels)")
        ax.set_title(NETWORK_TITLES.get(network_key, network_key))
        ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# ----------------------------------------------------------------------- the report
LITERATURE = (
    "What the literature predicts. Wenzel et al. (2020, *How good is the Bayes posterior in "
    "deep neural networks really?*) found that tempering the posterior to T < 1 ('cold') "
    "improves the predictive performance of Bayesian ResNets trained with data augmentation. "
    "Kapoor et al. (2022, *On uncertainty, tempering, and data augmentation in Bayesian "
    "classification*) argue that the effect comes from a likelihood that ignores aleatoric "
    "uncertainty and is misspecified under augmentation, and that a noisy-Dirichlet (or "
    "otherwise softened) likelihood removes the need for T < 1. Nabarro et al. (2022, *Data "
    "augmentation in Bayesian neural networks and the cold posterior effect*) built a proper "
    "augmented likelihood (averaging over augmentations inside the likelihood) and found that "
    "the cold posterior effect persists with it. Our mollified likelihood is of Kapoor's kind "
    "(soft labels that grow softer with the degradation); the question is whether its best T "
    "moves towards 1 and whether its predictive is better calibrated under corruption."
)


def _best_temperature(network: Mapping[str, Any], likelihood: str, key: str) -> float:
    x, y = _series(network, likelihood, key)
    return x[min(range(len(y)), key=y.__getitem__)]


def _fit(network: Mapping[str, Any], likelihood: str, temperature: float) -> Mapping[str, Any]:
    return next(
        f
        for f in network["fits"]
        if f["likelihood"] == likelihood and f["temperature"] == temperature
    )


def findings(record: Mapping[str, Any]) -> list[str]:
    """Statements computed from the record: the best T of each likelihood, mollified against
    clean at T = 1 (NLL differences beside twice their standard errors), NUTS convergence."""
    lines = []
    temperatures = record["settings"]["temperatures"]
    likelihoods = _likelihoods(record)
    for key, network in record["networks"].items():
        title = NETWORK_TITLES.get(key, key)
        best = ", ".join(
            f"`{lik}` T = {_best_temperature(network, lik, 'corrupted.nll'):g} (corrupted NLL) / "
            f"{_best_temperature(network, lik, 'clean.nll'):g} (clean NLL) / "
            f"{_best_loo(network, lik):g} (ELPD-LOO)"
            for lik in likelihoods
        )
        lines.append(f"- {title}: best T of {temperatures}: {best}.")
        if 1.0 in temperatures and {"clean", "mollified"} <= set(likelihoods):
            clean, moll = _fit(network, "clean", 1.0), _fit(network, "mollified", 1.0)
            parts = []
            for split in ("clean", "corrupted"):
                diff = moll[f"{split}.nll"] - clean[f"{split}.nll"]
                se = (moll[f"{split}.nll_se"] ** 2 + clean[f"{split}.nll_se"] ** 2) ** 0.5
                ece = 100 * (moll[f"{split}.ece"] - clean[f"{split}.ece"])
                parts.append(
                    f"{split} NLL {diff:+.3f} (2 SE of unpaired images {2 * se:.3f}), "
                    f"ECE {ece:+.1f} pp"
                )
            lines.append(f"  At T = 1, mollified - clean likelihood: {'; '.join(parts)}.")
        for check in network.get("nuts", []):
            state = "converged" if check["converged"] else "**did not converge**"
            lines.append(
                f"  NUTS, `{check['likelihood']}`, T = 1, {check['rows']} rows: {state} "
                f"(R-hat max {r_hat_text(check['r_hat_max'])}, {check['divergences']} divergences, "
                f"min bulk ESS {check['ess_bulk_min']:.0f}); SVI's posterior mean is "
                f"{100 * check['mean_relative_gap']:.0f}% of the norm away from NUTS's."
            )
    return lines


def _best_loo(network: Mapping[str, Any], likelihood: str) -> float:
    x, y = _series(network, likelihood, "elpd_loo")
    return x[max(range(len(y)), key=y.__getitem__)]


def report_lines(results_dir: Path, scale: str = "cpu") -> list[str]:
    """The report's section on the Bayesian study, when ``results/bayes/`` holds it."""
    import json

    path = results_dir / "bayes" / f"bayes_{scale}.json"
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    return [
        "## The Bayesian last layer: likelihoods and the cold posterior",
        "",
        f"`python experiments/reproduce.py bayes --scale {scale}`; every number below is in "
        f"`results/bayes/bayes_{scale}.json`, the full tables in `results/bayes/bayes_{scale}.md`.",
        "",
        *findings(record),
        "",
        f"![posterior predictive against T](bayes/bayes_{scale}_temperature.png)",
        f"![ELPD-LOO against T](bayes/bayes_{scale}_loo.png)",
        "",
        LITERATURE,
        "",
    ]
