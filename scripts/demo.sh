#!/usr/bin/env bash
# The main job: set up, start the cloud service (embedded defaults: SQLite + files, CPU, the
# shipped codec and segmenter), register a demo vehicle, stream frames from an edge agent (the
# shipped ONNX net_C → Huffman → POST /frames), fine-tune the segmenter, and print a summary.
#
#   bash scripts/demo.sh                  # stream, fine-tune, print the figures and where to look
#   bash scripts/demo.sh --keep-serving   # ... then open the console and serve until Ctrl-C
#
# Frames: CamVid val from ../shared/datasets/camvid (or $LATENTLINK_DATA_ROOT) when present,
# synthetic street scenes otherwise. Port: $LATENTLINK_DEMO_PORT (default 8000). Everything it
# writes goes to runs/demo/ (ignored by git; emptied at each run).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$repo"

keep_serving=false
[ "${1:-}" = "--keep-serving" ] && keep_serving=true
port="${LATENTLINK_DEMO_PORT:-8000}"
url="http://127.0.0.1:$port"
work="$repo/runs/demo"
data_dir="$work/cloud"
figures="$work/figures.json"
rm -rf "$work"
mkdir -p "$data_dir"

data_root="${LATENTLINK_DATA_ROOT:-$repo/../shared/datasets/camvid}"
report_args=()
if [ -d "$data_root/val" ]; then
  source_arg="$data_root/val"
  source_name="CamVid val frames ($data_root/val)"
  report_args+=(--frames-dir "$data_root/val")
  [ -d "$data_root/valannot" ] && report_args+=(--labels-dir "$data_root/valannot")
else
  source_arg="synthetic:24"
  source_name="24 synthetic street scenes"
fi

export LATENTLINK_ADMIN_TOKEN="${LATENTLINK_ADMIN_TOKEN:-demo-admin-$(python -c 'import secrets; print(secrets.token_hex(8))')}"
# The console's sign-in needs the token: kept beside the demo's data, readable by this user only.
(umask 077 && printf '%s\n' "$LATENTLINK_ADMIN_TOKEN" >"$work/admin-token")
report=(python "$repo/scripts/demo_report.py" --url "$url" --token "$LATENTLINK_ADMIN_TOKEN"
        --token-file "$work/admin-token" --figures "$figures")
echo "== registering vehicle demo-car"
token="$(cloud-service add-vehicle demo-car --data-dir "$data_dir" | tail -n 1)"

echo "== starting the cloud service on $url (log: $work/cloud.log)"
cloud-service serve --data-dir "$data_dir" --host 127.0.0.1 --port "$port" >"$work/cloud.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -fs "$url/readyz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "the cloud service failed to start:" >&2; tail -n 20 "$work/cloud.log" >&2; exit 1; }
  sleep 0.5
done
grep -m1 "serving on" "$work/cloud.log" | sed 's/^/   /' || true

echo "== streaming $source_name from edge agent demo-car (the shipped net_C)"
edge-agent run --source "$source_arg" --server "$url" --token "$token" --vehicle-id demo-car \
  --spool "$work/spool" --threads 1 --once --log-level warning

echo "== measuring what the cloud holds (CF, net_D PSNR, Dice of the served masks)"
"${report[@]}" frames "${report_args[@]}"

# Continual learning on the fleet's data (when labels exist for the streamed frames): label them,
# fine-tune the serving segmenter from the stored latents, promote it if it wins on held-out frames.
if [ -d "$data_root/valannot" ] && [ "$source_arg" = "$data_root/val" ]; then
  echo "== labelling the uploaded frames and fine-tuning the segmenter from their latents"
  cloud-service import-annotations "$data_root/valannot" --data-dir "$data_dir" --dataset camvid
  job="$(cloud-service finetune --data-dir "$data_dir" --source human --iterations 200 \
    --holdout-fraction 0.3 --seed 0 | tail -n 1 | awk '{print $NF}')"
  "${report[@]}" job --job "$job"
fi

"${report[@]}" summary

if $keep_serving; then
  echo "== serving on $url until Ctrl-C; the console: $url/ui"
  if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    python -m webbrowser "$url/ui" >/dev/null 2>&1 || true
  fi
  wait "$server"
fi
