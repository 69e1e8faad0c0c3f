"""Small pieces shared across probmoll, each in its own module.

- :mod:`probmoll.utils.io` -- atomic file writes (a reader never sees half a file), JSON
- :mod:`probmoll.utils.config` -- typed configuration dataclasses <-> dicts <-> YAML,
  dotted ``key=value`` overrides, :class:`~probmoll.utils.config.ConfigError`
- :mod:`probmoll.utils.registry` -- :class:`~probmoll.utils.registry.Registry`, the one
  name -> entry registry (models, datasets, estimators, ...)
- :mod:`probmoll.utils.enums` -- string options as enums (parse, or fail listing choices)
- :mod:`probmoll.utils.cli` -- argument types shared by the ``probmoll`` sub-commands
- :mod:`probmoll.utils.tables` -- Markdown tables
- :mod:`probmoll.utils.figures` -- saving Matplotlib figures

The atomic writers are also importable from here.
"""

from probmoll.utils.io import (
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)

__all__ = ["atomic_torch_save", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]
