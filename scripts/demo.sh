#!/usr/bin/env bash
# The main job, from a fresh checkout: installs fastact (editable, with its
# [train] extras tqdm and matplotlib; not PyTorch), installs Fashion-MNIST
# with apt-get when it is missing (Debian or Ubuntu, as root), then runs
# `fastact demo`: ReLU vs sigmoid on Fashion-MNIST with the fastact backend
# (784 -> Dense(128) -> Dense(10), Adam, batch 32, 10 epochs), the results
# table, and a short benchmark summary.
#
#   bash scripts/demo.sh                 # the whole job
#   bash scripts/demo.sh --epochs 2      # arguments go to `fastact demo`
#   bash scripts/demo.sh --data DIR      # the dataset from DIR (or FASTACT_DATA=DIR)
#
# PYTHON=python3.12 bash scripts/demo.sh picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
# Batch-32 matrix products gain nothing from more BLAS threads, and on a
# machine shared with other work extra threads make them erratic.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"

echo "== installing fastact with $PYTHON -m pip (editable, [train] extras)"
if ! "$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[train]"; then
    echo "demo.sh: pip could not install fastact. If this Python is managed by the system" >&2
    echo "package manager, use a virtual environment:" >&2
    echo "    python3 -m venv .venv && . .venv/bin/activate && bash scripts/demo.sh" >&2
    exit 1
fi

# A --data DIR among the arguments is where the dataset must be.
data=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --data) data=(--data "${args[i + 1]:-}") ;;
        --data=*) data=("${args[i]}") ;;
    esac
done

if ! "$PYTHON" -m fastact data ${data[@]+"${data[@]}"} >/dev/null 2>&1; then
    # apt-get puts the files in the default directory, so only when no other
    # directory was asked for.
    if [[ ${#data[@]} -eq 0 && -z "${FASTACT_DATA:-}" && $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "== Fashion-MNIST is missing: apt-get install dataset-fashion-mnist"
        apt-get -q update && apt-get -q install -y dataset-fashion-mnist || true
    fi
    # Still missing: this says what is missing and how to get it.
    "$PYTHON" -m fastact data ${data[@]+"${data[@]}"} >/dev/null || exit 1
fi

echo "== $PYTHON -m fastact demo $*"
exec "$PYTHON" -m fastact demo "$@"
