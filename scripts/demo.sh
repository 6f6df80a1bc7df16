#!/usr/bin/env bash
# The main job: set up, start the cloud service (embedded defaults: SQLite + files, CPU), register
# a demo vehicle, and stream frames from an edge agent (ONNX net_C → Huffman → POST /frames).
#
#   bash scripts/demo.sh                  # stream, print counts and where to look, then stop
#   bash scripts/demo.sh --keep-serving   # ... and keep the service up until Ctrl-C
#
# Frames: CamVid val from ../shared/datasets/camvid (or $LATENTLINK_DATA_ROOT) when present,
# synthetic street scenes otherwise. Port: $LATENTLINK_DEMO_PORT (default 8000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$repo"

keep_serving=false
[ "${1:-}" = "--keep-serving" ] && keep_serving=true
port="${LATENTLINK_DEMO_PORT:-8000}"
url="http://127.0.0.1:$port"
work="$repo/results/demo"
data_dir="$work/cloud"
rm -rf "$data_dir" "$work/spool"
mkdir -p "$data_dir"

data_root="${LATENTLINK_DATA_ROOT:-$repo/../shared/datasets/camvid}"
if [ -d "$data_root/val" ]; then
  source_arg="$data_root/val"
  source_name="CamVid val frames ($data_root/val)"
else
  source_arg="synthetic:24"
  source_name="24 synthetic street scenes"
fi

export LATENTLINK_ADMIN_TOKEN="${LATENTLINK_ADMIN_TOKEN:-demo-admin-$(python -c 'import secrets; print(secrets.token_hex(8))')}"
# Serve the shipped compressed-domain segmenter once it exists (else the service says 'untrained').
if [ -f "$repo/shared/latentlink/weights/seg_lite_d2_n8.pt" ]; then
  export LATENTLINK_SEGMENTER_WEIGHTS="${LATENTLINK_SEGMENTER_WEIGHTS:-default}"
fi
echo "== exporting net_C for the vehicle (ONNX)"
latentlink export-onnx --weights default -o "$work/net_c.onnx"
echo "== registering vehicle demo-car"
token="$(cloud-service add-vehicle demo-car --data-dir "$data_dir" | tail -n 1)"

echo "== starting the cloud service on $url"
cloud-service serve --data-dir "$data_dir" --host 127.0.0.1 --port "$port" --log-level warning &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs "$url/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "the cloud service failed to start" >&2; exit 1; }
  sleep 0.5
done

cat <<EOF
== where to look (admin token: $LATENTLINK_ADMIN_TOKEN)
   API docs        $url/docs
   frames          curl -H "Authorization: Bearer \$LATENTLINK_ADMIN_TOKEN" $url/frames
   one frame       $url/frames/{id}, /segmentation (PNG mask), /image (net_D picture), /latent
   metrics         $url/metrics
== streaming $source_name from edge agent demo-car
EOF
edge-agent run --source "$source_arg" --server "$url" --token "$token" --vehicle-id demo-car \
  --spool "$work/spool" --model "$work/net_c.onnx" --threads 1 --once

python - "$url" "$LATENTLINK_ADMIN_TOKEN" <<'EOF'
"""Print what the cloud holds now: frame count, mean CF, segmentation progress."""
import sys
import time

import httpx

url, token = sys.argv[1], sys.argv[2]
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
    deadline = time.monotonic() + 30
    while True:
        page = client.get("/frames", params={"vehicle": "demo-car", "limit": 1000}).json()
        items = page["items"]
        done = sum(item["segmentation"]["status"] != "pending" for item in items)
        if done == len(items) or time.monotonic() > deadline:
            break
        time.sleep(1)
    cfs = [item["compression_factor"] for item in items]
    print(f"== the cloud holds {page['total']} frames from demo-car, mean CF "
          f"{sum(cfs) / max(len(cfs), 1):.1f}, segmented {done}/{len(items)} "
          f"(segmenter: {items[0]['segmenter'] if items else '-'})")
    if items:
        first = items[0]["id"]
        print(f"   e.g. {url}/frames/{first}/segmentation and {url}/frames/{first}/image")
EOF

# Continual learning on the fleet's data (when labels exist for the streamed frames): label them,
# fine-tune the serving segmenter from the stored latents, promote it if it wins on held-out frames.
if [ -d "$data_root/valannot" ] && [ "$source_arg" = "$data_root/val" ]; then
  echo "== labelling the uploaded frames and fine-tuning the segmenter from their latents"
  cloud-service import-annotations "$data_root/valannot" --data-dir "$data_dir" --dataset camvid
  job="$(cloud-service finetune --data-dir "$data_dir" --source human --iterations 200 \
    --holdout-fraction 0.3 --seed 0 | tail -n 1 | awk '{print $NF}')"
  python - "$url" "$LATENTLINK_ADMIN_TOKEN" "$job" <<'EOF'
"""Wait for the fine-tuning job and print its held-out result and the promotion decision."""
import sys
import time

import httpx

url, token, job_id = sys.argv[1:4]
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
    while (job := client.get(f"/jobs/{job_id}").json())["state"] in ("queued", "running"):
        if sys.stdout.isatty():
            print(f"\r   job {job_id}: {job['state']} {100 * (job.get('progress') or 0):3.0f}%",
                  end="", flush=True)
        time.sleep(2)
    if sys.stdout.isatty():
        print()
    metrics = job.get("metrics")
    if metrics:
        base = metrics["base"]
        print(f"== job {job_id} {job['state']}: held-out mean Dice {base['dice']:.3f} -> "
              f"{metrics['dice']:.3f}, mIoU {base['miou']:.3f} -> {metrics['miou']:.3f}; "
              f"{'promoted' if metrics['promoted'] else 'not promoted'} ({url}/models)")
    else:
        print(f"== job {job_id} {job['state']}: {job.get('error')}")
EOF
fi

if $keep_serving; then
  echo "== serving on $url until Ctrl-C"
  wait "$server"
fi
