#!/usr/bin/env bash
# The test command: installs fastact with its test extras, then runs the
# test suite and every benchmark once (untimed) as a smoke test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"
python3 -m pytest "$@"
