"""probmoll: robust and calibrated classifiers by coupling data mollification with label smoothing.

Sub-packages (see docs/architecture.md):

- :mod:`probmoll.mollify` -- noising, blurring, label smoothing/tempering, schedules, `Mollifier`
- :mod:`probmoll.likelihoods` -- augmented-likelihood forms, estimators, Pyro distributions
- :mod:`probmoll.data` -- datasets and corruption benchmarks
- :mod:`probmoll.metrics` -- error, NLL, ECE, Brier; exact accumulators
- :mod:`probmoll.models` -- preact-ResNets and the model registry
- :mod:`probmoll.augment` -- FCR, torchvision policies, MixUp/CutMix
- :mod:`probmoll.train` -- configuration, training engine, checkpoints, sweeps
"""

from probmoll.utils.lazy import lazy_exports

__version__ = "0.1.0"

# Public names imported on first use (PEP 562), so that `import probmoll` imports no torch.
_SOURCES = {
    "Mollify": "mollify",  # drop-in batch transform, x, y = mollify(x, y)
    "load_model": "models",  # a trained model as a module taking images in [0, 1]
}
__all__ = ["Mollify", "__version__", "load_model"]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES, __all__)
