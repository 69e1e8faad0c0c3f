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

__version__ = "0.1.0"
