#!/usr/bin/env bash
# Make Fashion-MNIST available under /usr/share/datasets/fashion-mnist/ through
# Debian's dataset-fashion-mnist package, when it is missing and apt can install it.
# Elsewhere probmoll downloads Fashion-MNIST through torchvision at run time.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/t10k-images-idx3-ubyte.gz" ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing Debian package dataset-fashion-mnist ..."
  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null
else
  echo "note: $dir is missing and apt-get is unavailable; probmoll will download Fashion-MNIST with torchvision when needed."
fi
