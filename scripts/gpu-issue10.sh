#!/usr/bin/env bash
# Issue 10 on one lent GPU in one call (≤ 10 minutes): everything trains at once, sharing the GPU.
#   1. default:cf50 — net_C, rate model and net_D trained together again from the shipped file,
#      two recipes (lr 1e-4 on 352² patches, lr 2e-4 on 256²); exported as OUT/cf50_{a,b}.pt.
#   2. The latent segmenter against BL 4 (JPEG at CF 78) over three seeds each, and the
#      equal-cost deeper latent model (--extra-blocks 2) over two, at the shipped segmenter's
#      recipe (OHEM, square-root median-frequency class weights, 4 views) but as
#      many iterations as fit: a 100-iteration calibration run of every model (which also caches
#      its views) measures the slowest one's speed under the shared load, and every run then gets
#      the same count, a multiple of 500, sized to end by DEADLINE_S. Their exports come back as
#      OUT/seg.tar.part.* (at most 8 files of ≤ 16 MiB return from a device call).
# Data: scripts/make-device-data.py (JPEG-95 CamVid train + every fourth val frame, PNG labels),
# carried as .devdata. The call's working tree must stay under 64 MiB: for it, move the shipped
# weights other than codec_d2_n8.pt and codec_d2_n8_cf50.pt out of shared/, and back afterwards.
# Evaluate what comes back here, on the original val PNGs (eval-seg / eval-codec / rd-curves).
#
#   scripts/gpu-issue10.sh OUT DEADLINE_S [PYTHON]
#
# A CPU dry run of the plumbing: DATA=tiny_copy CODEC_MIN=0.2 CAL_ITERS=4 ITERS=8 MIN_ITERS=4.
set -uo pipefail
out=${1:?usage: gpu-issue10.sh OUT DEADLINE_S [PYTHON]}
deadline=${2:?usage: gpu-issue10.sh OUT DEADLINE_S [PYTHON]}
py=${3:-python3}
t0=$(date +%s)
data=${DATA:-.devdata}; codec_min=${CODEC_MIN:-7.0}; cal=${CAL_ITERS:-100}
export PYTHONPATH=$PWD/shared PYTHONUNBUFFERED=1
nvidia-smi -L 2>/dev/null || true
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
mkdir -p "$out" /tmp/r /tmp/cal /tmp/seg /tmp/cache

codec=(--arch factorized --depth 2 --bits 8 --init-weights default:cf50 --synthesis-blocks 2
  --rate-lambda 1.2e-3 --dataset folder --data-root "$data" --lr-schedule cosine --epochs 1000
  --grad-clip 1 --val-frames 24 --threads 2 --quiet --max-minutes "$codec_min")
"$py" -m latentlink train-codec "${codec[@]}" --lr 1e-4 --warmup-steps 100 --batch-size 8 \
  --patch-size 352 --patches-per-image 4 --out-dir /tmp/r/cf50_a --export "$out/cf50_a.pt" \
  >/tmp/r/cf50_a.log 2>&1 &
"$py" -m latentlink train-codec "${codec[@]}" --lr 2e-4 --warmup-steps 200 --batch-size 16 \
  --patch-size 256 --patches-per-image 8 --out-dir /tmp/r/cf50_b --export "$out/cf50_b.pt" \
  >/tmp/r/cf50_b.log 2>&1 &

runs=(lat_s0 lat_s1 lat_s2 jpg_s0 jpg_s1 jpg_s2 deep_s0 deep_s1)
seg() {  # seg RUN OUT_DIR [train-seg options...]; RUN = KIND_sSEED
  local run=$1 dir=$2; shift 2
  local seed=${run#*_s} kind=${run%%_*} input=()
  case $kind in
    lat) input=(--input latent) ;;
    deep) input=(--input latent --extra-blocks 2) ;;
    jpg) input=(--input jpeg --jpeg-cf 78) ;;
  esac
  "$py" -m latentlink train-seg "${input[@]}" --preset lite --dataset camvid --data-root "$data" \
    --codec-weights default --lr 1e-2 --ohem --class-weights sqrt-median-frequency \
    --augment-views 4 --bf16 --threads 1 --seed "$seed" \
    --cache-dir "/tmp/cache/$run" --out-dir "$dir/$run" --quiet "$@"
}
export py data; export -f seg
cal_pids=()
for run in "${runs[@]}"; do
  seg "$run" /tmp/cal --iterations "$cal" --val-every "$cal" --val-frames 2 >"/tmp/cal/$run.log" 2>&1 &
  cal_pids+=($!)
done
for pid in "${cal_pids[@]}"; do wait "$pid"; done
now=$(($(date +%s) - t0)); echo "calibration done at ${now}s"
iters=$("$py" - "$now" "$deadline" "${runs[@]}" <<'PY'
import json, sys
now, deadline, runs = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
secs = []
for run in runs:
    try:
        record = json.loads(open(f"/tmp/cal/{run}/history.jsonl").read().splitlines()[-1])
        secs.append(record["wall_seconds"] / record["iteration"])
    except (OSError, IndexError, KeyError, ValueError) as error:
        print(f"{run}: no calibration ({error})", file=sys.stderr)
per_iteration = max(secs, default=float("inf"))
left = deadline - now - 45  # loading the cached views, four validations, the export
n = int(max(left, 0) * 0.8 / per_iteration) // 500 * 500
print(f"{per_iteration * 1000:.1f} ms/it (slowest) -> {n} iterations in {left:.0f}s", file=sys.stderr)
print(min(n, 12000))
PY
)
iters=${ITERS:-$iters}; echo "iterations: $iters"
if [ "${iters:-0}" -lt "${MIN_ITERS:-500}" ]; then echo "no time left for the seg runs"; runs=(); fi
for run in "${runs[@]}"; do
  timeout $((deadline - $(date +%s) + t0)) bash -c "seg $run /tmp/seg --iterations $iters \
    --val-every $((iters / 4)) --val-frames 24 --export $out/$run.pt" >"/tmp/seg/$run.log" 2>&1 &
done
wait
echo "all done at $(($(date +%s) - t0))s"
for f in /tmp/r/*.log /tmp/cal/*.log /tmp/seg/*.log; do echo "== $f"; tail -n 3 "$f"; done
for run in "${runs[@]}"; do
  [ -f "$out/$run.pt" ] || cp "/tmp/seg/$run/best.pt" "$out/$run.best.pt" 2>/dev/null
done
(cd "$out" && ls lat_* jpg_* deep_* >/dev/null 2>&1 && tar cf - lat_* jpg_* deep_* \
  | split -b 15m - seg.tar.part. && rm -f lat_* jpg_* deep_*)
(cd /tmp && tar czf "$out/hist.tgz" r/*/history.jsonl r/*.log cal/*/history.jsonl \
  seg/*/history.jsonl seg/*.log 2>/dev/null)
ls -la "$out"
