#!/usr/bin/env bash
# Train the factorized codec's rate ladder (d = 2 at several λ) and its d = 1 and d = 3 variants,
# all runs at once: on a GPU they share it, on a CPU give each run its own --threads.
#
#   scripts/train-ladder.sh DATA_ROOT OUT_DIR [MINUTES] [extra train-codec options ...]
#
# DATA_ROOT is CamVid's folder (or a 'folder' data set with train/ and val/: pass
# --dataset folder among the extra options). Each run writes OUT_DIR/<name>/ (checkpoints,
# history.jsonl, train.log) and exports OUT_DIR/<name>.pt. MINUTES (default 120) bounds each run's
# training time; the cosine schedule ends with it. Runs that exist resume (--resume).
set -euo pipefail
data_root=${1:?usage: train-ladder.sh DATA_ROOT OUT_DIR [MINUTES] [options...]}
out_dir=${2:?usage: train-ladder.sh DATA_ROOT OUT_DIR [MINUTES] [options...]}
minutes=${3:-120}
shift $(( $# < 3 ? $# : 3 ))
python=${LATENTLINK_PYTHON:-python}
# name  depth  λ (MSE + λ·bpp; frames in [0, 1]). d2_l3e-3 is the default operating point (CF ≈ 75).
runs=(
  "d2_l1e-3 2 1e-3"
  "d2_l2e-3 2 2e-3"
  "d2_l3e-3 2 3e-3"
  "d2_l4.5e-3 2 4.5e-3"
  "d2_l7e-3 2 7e-3"
  "d1_l3e-3 1 3e-3"
  "d3_l3e-3 3 3e-3"
)
mkdir -p "$out_dir"
pids=()
for run in "${runs[@]}"; do
  read -r name depth lambda <<<"$run"
  resume=()
  [ -f "$out_dir/$name/last.pt" ] && resume=(--resume)
  mkdir -p "$out_dir/$name"
  "$python" -m latentlink train-codec --arch factorized --depth "$depth" --bits 8 \
    --rate-lambda "$lambda" --data-root "$data_root" --out-dir "$out_dir/$name" \
    --lr 1e-3 --lr-schedule cosine --epochs 1000 --max-minutes "$minutes" --warmup-steps 300 \
    --grad-clip 1 --batch-size 16 --patch-size 256 --patches-per-image 8 --fp32 --quiet \
    --export "$out_dir/$name.pt" "${resume[@]}" "$@" >"$out_dir/$name/train.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
tail -n 2 "$out_dir"/*/train.log
exit $status
