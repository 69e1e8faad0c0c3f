#!/usr/bin/env bash
# Make Fashion-MNIST available under /usr/share/datasets/fashion-mnist/ through
# Debian's dataset-fashion-mnist package, when it is missing and apt can install it.
# Elsewhere probmoll downloads Fashion-MNIST through torchvision at run time, so this
# script never fails: `make test` and `make demo` go on without the package.
set -euo pipefail
# FASHION_MNIST_DIR only redirects the check (tests); the package installs to the default.
dir=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
fallback="probmoll will download Fashion-MNIST with torchvision when needed."
if [ -f "$dir/t10k-images-idx3-ubyte.gz" ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian package dataset-fashion-mnist ..."
  # apt may be unreachable (no network, no mirror, package unknown): not an error here.
  if ! { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
    echo "note: installing dataset-fashion-mnist with apt-get failed; $fallback"
  fi
else
  echo "note: $dir is missing and apt-get is unavailable; $fallback"
fi
exit 0
