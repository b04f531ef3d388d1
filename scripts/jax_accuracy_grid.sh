#!/usr/bin/env bash
# Test accuracy per epoch of the independent JAX implementation (scripts/jax_train_reference.py
# --check) for bp, fa and ifa at 0/30/60/90 degrees, seeds 0-2, 784-512x4-10, batch 128,
# SGD momentum 0.9, lr 0.005: the seed spread that issue 2's accuracy ranges are read against.
# Usage: scripts/jax_accuracy_grid.sh [EPOCHS] > grid.jsonl   (about 40 s per 10-epoch run)
set -euo pipefail
epochs=${1:-10}
here=$(dirname "$0")
for seed in 0 1 2; do
  for spec in "bp" "fa" "ifa 0" "ifa 30" "ifa 60" "ifa 90"; do
    set -- $spec
    python3 "$here/jax_train_reference.py" --check --epochs "$epochs" --seed "$seed" --rule "$1" ${2:+--align-angle "$2"}
  done
done
