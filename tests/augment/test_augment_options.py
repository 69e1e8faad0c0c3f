"""The torch-free option names: one definition, read by the torch modules, checked cheaply."""

import pytest
from torchvision.transforms import v2

from probmoll.augment import (
    list_autoaugment_policies,
    list_interpolations,
    list_mixings,
    list_policies,
    policy_uses_fcr,
)
from probmoll.augment.options import (
    AUTOAUGMENT_POLICIES,
    INTERPOLATIONS,
    MIXINGS,
    POLICIES,
    POLICIES_WITH_FCR,
)
from tests.helpers import run_python


def test_the_list_functions_read_the_options():
    assert list_policies() == list(POLICIES)
    assert list_mixings() == list(MIXINGS)
    assert list_interpolations() == list(INTERPOLATIONS)
    assert list_autoaugment_policies() == list(AUTOAUGMENT_POLICIES)
    assert [name for name in POLICIES if policy_uses_fcr(name)] == [
        name for name in POLICIES if name in POLICIES_WITH_FCR
    ]


def test_autoaugment_policies_are_torchvisions():
    assert list(AUTOAUGMENT_POLICIES) == [policy.value for policy in v2.AutoAugmentPolicy]


@pytest.mark.parametrize(
    "fields",
    [{"policy": "nope"}, {"mix": "nope"}, {"interpolation": "cubic"}, {"padding": -1}],
)
def test_config_checks_import_no_torch(fields):
    code = (
        "import sys\n"
        "import probmoll.augment\n"
        "from probmoll.augment.config import AugmentConfig\n"
        f"try:\n    AugmentConfig(**{fields!r})\n"
        "except ValueError as error:\n    print('error:', error)\n"
        "heavy = ('torch', 'torchvision', 'numpy')\n"
        "print('loaded:', [name for name in heavy if name in sys.modules])\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "error: " in result.stdout and "loaded: []" in result.stdout
