#!/usr/bin/env bash
# Continual fine-tuning on real data, end to end through the service: upload CamVid val frames with
# the edge agent, import their labels, fine-tune the shipped segmenter from the stored latents,
# and print the job's held-out metrics against the serving (shipped) model's and the registry.
#   bash benchmarks/finetune_camvid.sh [CAMVID_ROOT] [ITERATIONS]
set -euo pipefail
root="${1:-${LATENTLINK_DATA_ROOT:-../shared/datasets/camvid}}"
iterations="${2:-300}"
work="$(mktemp -d)"
port="${LATENTLINK_BENCH_PORT:-8811}"
url="http://127.0.0.1:$port"
export LATENTLINK_ADMIN_TOKEN="bench-admin" LATENTLINK_SEGMENTER_WEIGHTS=default
latentlink export-onnx --weights default -o "$work/net_c.onnx"
token="$(cloud-service add-vehicle car1 --data-dir "$work/data" | tail -n 1)"
cloud-service serve --data-dir "$work/data" --port "$port" --log-level warning &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 120); do curl -fs "$url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
edge-agent run --source "$root/val" --server "$url" --token "$token" --vehicle-id car1 \
  --spool "$work/spool" --model "$work/net_c.onnx" --threads 1 --once --log-format json >/dev/null
cloud-service import-annotations "$root/valannot" --data-dir "$work/data" --dataset camvid
job="$(cloud-service finetune --data-dir "$work/data" --source human --iterations "$iterations" \
  --holdout-fraction 0.3 --seed 0 | tail -n 1 | awk '{print $NF}')"
auth=(-H "Authorization: Bearer $LATENTLINK_ADMIN_TOKEN")
while ! curl -fs "${auth[@]}" "$url/jobs/$job" | grep -q '"state":"\(succeeded\|failed\|cancelled\)"'; do
  sleep 5
done
curl -fs "${auth[@]}" "$url/jobs/$job" > "$work/job.json"
python - "$work/job.json" <<'PY'
"""Print the job's outcome: held-out metrics of the new version against the serving model's."""
import json
import sys

job = json.load(open(sys.argv[1]))
print(f"job {job['id']}: {job['state']} {job.get('error') or ''}")
metrics = job["metrics"]
if metrics:
    base = metrics["base"]
    print(f"held-out frames {metrics['frames']}: mean Dice {base['dice']:.3f} -> "
          f"{metrics['dice']:.3f}, mIoU {base['miou']:.3f} -> {metrics['miou']:.3f}; "
          f"{metrics['promotion']}")
PY
