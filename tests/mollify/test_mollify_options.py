"""The options of mollification and MollifyConfig need no torch (a config error is cheap)."""

import pytest

from probmoll.mollify import labels, mollifier, options, sampling, schedules
from tests.helpers import run_python


def _run_without_torch(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return what it printed."""
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_mollify_config_is_built_and_checked_without_torch():
    printed = _run_without_torch(
        """
        import sys

        import probmoll.mollify.mollifier as m
        from probmoll.mollify import BlurSchedule, LabelForm, MollifyConfig, Role

        m.MollifyConfig(alpha=1.0)
        MollifyConfig(roles=["noise", "blur"], weights=[1, 2], blur_schedule="png", sigma_max=4)
        for bad in ({"alpha": -1}, {"roles": ["x"]}, {"blur_schedule": "nope"}):
            try:
                m.MollifyConfig(**bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{bad} was accepted")
        LabelForm.parse("smooth"), BlurSchedule.parse("png"), Role.BLUR
        print("torch" in sys.modules)
        """
    )
    assert printed == "False"


def test_options_are_defined_once_and_reexported():
    assert sampling.Role is options.Role and mollifier.Role is options.Role
    assert sampling.ROLE_NAMES is options.ROLE_NAMES == ("clean", "noise", "blur")
    assert labels.LabelForm is options.LabelForm is mollifier.LabelForm
    assert schedules.BlurSchedule is options.BlurSchedule is mollifier.BlurSchedule
    assert schedules.PNG_CURVE_IMAGES == options.PNG_CURVE_IMAGES
    assert sampling.check_roles is options.check_roles
    assert mollifier.sample_beta is sampling.sample_beta


def test_the_lazy_package_lists_and_resolves_every_public_name():
    import probmoll.mollify as package

    assert set(package.__all__) <= set(dir(package))
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018
