#!/usr/bin/env bash
# The runs behind issue 2's acceptance figures and the README table: full Fashion-MNIST,
# 784-512x4-10, batch 128, SGD momentum 0.9, seed 0. Usage: scripts/acceptance-train.sh [OUT]
set -euo pipefail
out=${1:-runs/acceptance}
diag=${DIAG:-target/release/diag}
common=(--data fashion-mnist --hidden 512,512,512,512 --batch 128 --momentum 0.9 --seed 0 --quiet)
mkdir -p "$out"
# 10 epochs at lr 0.005 (the first 3 epochs double as the 3-epoch comparison: constant lr)
for spec in "bp" "fa" "ifa 0" "ifa 30" "ifa 60" "ifa 90"; do
  set -- $spec
  name=$1${2:+-$2}
  align=()
  [ -n "${2:-}" ] && align=(--align-angle "$2")
  "$diag" train --out "$out/lr0.005/$name" --rule "$1" "${align[@]}" --lr 0.005 --epochs 10 --ckpt-every log:25 "${common[@]}" --force || echo "$name: exit $?"
done
# 3 epochs at lr 0.01: plain and aligned FA are expected to diverge
for spec in "bp" "fa" "ifa 0" "ifa 30" "ifa 60"; do
  set -- $spec
  name=$1${2:+-$2}
  align=()
  [ -n "${2:-}" ] && align=(--align-angle "$2")
  "$diag" train --out "$out/lr0.01/$name" --rule "$1" "${align[@]}" --lr 0.01 --epochs 3 "${common[@]}" --force || echo "$name: exit $?"
done
