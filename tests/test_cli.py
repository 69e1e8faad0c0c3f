"""``probmoll`` itself: lazy start-up and one error style for every command."""

import pytest

from probmoll import cli
from tests.helpers import run_python


@pytest.fixture
def failing(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "fail", ("tests.failing_command", "always fails"))
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)


def test_an_error_is_one_line_with_status_2(failing, capsys):
    assert cli.main(["fail"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("probmoll fail: error: the file broke in two lines (--debug")


def test_a_key_error_says_what_is_missing(failing, capsys):
    assert cli.main(["fail", "--kind", "key"]) == 2
    assert "error: missing key 'checkpoint'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--debug", "fail"], ["fail", "--debug"]])
def test_debug_shows_the_traceback(failing, argv):
    with pytest.raises(RuntimeError, match="the file broke"):
        cli.main(argv)


def test_the_environment_variable_shows_the_traceback(failing, monkeypatch):
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(RuntimeError):
        cli.main(["fail"])


def test_usage_errors_stay_argparse_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2


def test_help_imports_no_command_and_no_torch():
    code = (
        "import sys\n"
        "from probmoll.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('torch', 'probmoll.train', 'probmoll.evaluate')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('loaded:', heavy)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "COMMAND" in result.stdout and "loaded: []" in result.stdout


def test_only_the_named_command_is_built():
    parser = cli.build_parser("corrupt")
    args = parser.parse_args(["corrupt", "--data", "x"])
    assert args.command == "corrupt" and callable(args._run)
    with pytest.raises(SystemExit):  # the other commands have no arguments filled in
        parser.parse_args(["train", "--config", "x.yaml"])


@pytest.mark.parametrize(
    "bad",
    [
        "epochs=x",
        "optim.momentun=0.9",
        "mollify.alpha=-1",
        "augment.policy=nope",
        "likelihood.estimator=nope",
    ],
)
def test_a_config_error_is_reported_without_importing_torch(bad):
    code = (
        "import sys\n"
        "from probmoll.cli import main\n"
        f"status = main(['train', '--config', 'experiments/configs/smoke.yaml', {bad!r}])\n"
        "print('status:', status)\n"
        "print('torch loaded:', 'torch' in sys.modules)\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "status: 2" in result.stdout
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("probmoll train: error: ")
    assert result.stdout.rstrip().endswith("torch loaded: False")
