#!/usr/bin/env bash
# The test command: installs fastact with everything its tests use, then runs
# the test suite and every benchmark once (untimed) as a smoke test.
#
#   bash scripts/test.sh              # everything: PyTorch and matplotlib too
#   bash scripts/test.sh --no-torch   # without PyTorch (its comparisons skip)
#   bash scripts/test.sh -k softmax   # other arguments go to pytest
#
# PyTorch is only a peer of the benchmarks and of a few comparison tests.
# Version 2.13.0 is a CPU build on this project's machines; elsewhere an
# unpinned or uncached torch can mean a multi-GB CUDA download, hence
# --no-torch.  Fashion-MNIST is installed from Debian's package when apt-get
# is there and we are root (the trainer's real-data test uses it; nothing
# else needs it).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="test,plot,torch"
if [ "${1:-}" = "--no-torch" ]; then
    extras="test,plot"
    shift
fi
python3 -m pip install --quiet --disable-pip-version-check -e ".[$extras]"

data=/usr/share/datasets/fashion-mnist
if [ ! -e "$data/train-images-idx3-ubyte.gz" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
        || echo "note: could not install dataset-fashion-mnist; the real-data test will skip"
fi

python3 -m pytest "$@"
