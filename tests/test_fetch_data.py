"""scripts/fetch_fashion_mnist.sh (run by `make test`/`make demo`) never stops them:
without the Debian package probmoll downloads Fashion-MNIST through torchvision."""

import shutil
import subprocess

import pytest

from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "fetch_fashion_mnist.sh"
BASH = shutil.which("bash")


def fake_command(folder, name, body):
    path = folder / name
    path.write_text(f"#!{BASH}\n{body}\n")
    path.chmod(0o755)


def run_script(tmp_path, *, apt_get: str | None, uid: int = 0, data_present: bool = False):
    """The script with a fake ``id`` (and ``apt-get`` unless None) as the only commands."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_command(bin_dir, "id", f"echo {uid}")
    if apt_get is not None:
        fake_command(bin_dir, "apt-get", apt_get)
    data_dir = tmp_path / "fashion-mnist"
    data_dir.mkdir()
    if data_present:
        (data_dir / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    return subprocess.run(
        [BASH, str(SCRIPT)],
        env={"PATH": str(bin_dir), "FASHION_MNIST_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(BASH is None, reason="needs bash")
@pytest.mark.parametrize(
    "apt_get,uid,note",
    [
        # root with apt-get, but apt is unreachable: a note, not a failure
        ("echo 'E: Unable to fetch' >&2; exit 100", 0, "failed"),
        # apt-get update works, the install does not
        ('[ "$1" = update ] && exit 0; exit 100', 0, "failed"),
        (None, 0, "apt-get is unavailable"),  # no apt-get at all
        ("exit 100", 1000, "apt-get is unavailable"),  # not root: apt-get is not tried
    ],
    ids=["apt-unreachable", "install-fails", "no-apt", "not-root"],
)
def test_missing_package_is_a_note_not_an_error(tmp_path, apt_get, uid, note):
    result = run_script(tmp_path, apt_get=apt_get, uid=uid)
    assert result.returncode == 0, result.stderr
    assert "note:" in result.stdout and note in result.stdout
    assert "torchvision" in result.stdout


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_present_data_needs_nothing(tmp_path):
    # apt-get would fail loudly if it were called
    result = run_script(tmp_path, apt_get="echo called; exit 100", data_present=True)
    assert (result.returncode, result.stdout) == (0, "")
