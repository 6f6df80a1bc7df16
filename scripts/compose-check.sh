#!/usr/bin/env bash
# The compose stack, for real: build the images, `docker compose up -d` with nothing exported,
# wait for /readyz, check that the simulator's frames are stored in PostgreSQL and segmented by
# the shipped segmenter (not "untrained"), restart the cloud container and check that nothing was
# lost (every frame stored before is still there and its container still reads back byte for
# byte), then `docker compose down -v`. Prints each step; exits non-zero on any failure.
#
#   scripts/compose-check.sh
#
# Not part of .ci/run (minutes, and it needs a Docker engine). Docker and compose settings come
# from the environment as usual: COMPOSE_FILE adds override files (e.g. `build: network: host`),
# PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / TORCH_INDEX are passed to the builds, DOCKER_BUILDKIT=0
# picks the classic builder. docs/cloud.md ("Deployment") has how it runs on a machine without a
# registry, and how long it takes. FRAMES (default 10): how many segmented frames to wait for.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT=${LATENTLINK_PORT:-8000}
URL=http://127.0.0.1:$PORT
FRAMES=${FRAMES:-10}
STARTED=$SECONDS

say() { printf '[compose-check %4ds] %s\n' "$((SECONDS - STARTED))" "$*"; }
fail() { say "FAIL: $*"; exit 1; }
sql() { docker compose exec -T postgres psql -U latentlink -d latentlink -tAc "$1"; }

finish() {
    local status=$?
    if [ "$status" -ne 0 ]; then
        say "failed; the services' last log lines:"
        docker compose ps -a || true
        docker compose logs --no-color --tail 40 || true
    fi
    say "docker compose down -v"
    docker compose down -v --remove-orphans || status=1
    say "$([ "$status" -eq 0 ] && echo PASSED || echo FAILED) in $((SECONDS - STARTED)) s"
    exit "$status"
}

# wait_for SECONDS WHAT COMMAND...: run COMMAND every 2 s until it succeeds.
wait_for() {
    local limit=$1 what=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $((SECONDS - start)) -lt "$limit" ] || fail "$what: not within $limit s"
        sleep 2
    done
    say "$what (after $((SECONDS - start)) s)"
}

ready() { curl -fsS "$URL/readyz" >/dev/null; }
segmented_at_least() { [ "$(sql "SELECT count(*) FROM frames WHERE seg_status = 'done'")" -ge "$1" ]; }

say "docker compose build"
build_start=$SECONDS
docker compose build
say "built in $((SECONDS - build_start)) s"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^latentlink-' \
    | sed 's/^/    image /'

trap finish EXIT
say "docker compose up -d (nothing exported)"
up_start=$SECONDS
docker compose up -d
wait_for 600 "cloud ready: $URL/readyz" ready
say "up in $((SECONDS - up_start)) s"
docker compose logs --no-color --no-log-prefix init | sed "s/\x1b\[[0-9;]*[A-Za-z]//g; s/^/    /"

readiness=$(curl -fsS "$URL/readyz")
say "readyz: $readiness"
segmenter=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["segmenter"] or "")' \
    <<<"$readiness")
[ -n "$segmenter" ] && [ "$segmenter" != untrained ] \
    || fail "the cloud serves segmenter '$segmenter', not the shipped one"

check_start=$SECONDS
wait_for 600 "$FRAMES frames of sim-1 stored in PostgreSQL and segmented" segmented_at_least "$FRAMES"
sql "SELECT vehicle, seg_status, coalesce(segmenter, '-'), count(*) FROM frames
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3" | sed 's/^/    frames: /'
[ "$(sql "SELECT count(*) FROM frames WHERE vehicle <> 'sim-1'")" -eq 0 ] \
    || fail "frames of a vehicle other than sim-1"
others=$(sql "SELECT count(*) FROM frames WHERE seg_status = 'done' AND segmenter <> '$segmenter'")
[ "$others" -eq 0 ] || fail "$others frames segmented by another segmenter than $segmenter"

admin_token=$(docker compose exec -T cloud cat /secrets/admin-token)
[ -n "$admin_token" ] || fail "no admin token in the cloud's /secrets"

# Every frame stored so far, with its container's SHA-256 and whether it was segmented.
before=$(sql "SELECT id, sha256, seg_status FROM frames ORDER BY id")
count_before=$(wc -l <<<"$before")
say "restarting the cloud with $count_before frames stored"
docker compose restart cloud
wait_for 600 "cloud ready again" ready

say "reading back all $count_before frames through the API"
ADMIN_TOKEN=$admin_token FRAMES_BEFORE=$before python3 - "$URL" <<'PYTHON' || fail "frames lost"
"""Each frame stored before the restart: its container (byte for byte: same SHA-256) and, if it
was segmented, its mask must still be served."""
import hashlib
import os
import sys
import urllib.request

url, token = sys.argv[1], os.environ["ADMIN_TOKEN"]
lost = []
for line in os.environ["FRAMES_BEFORE"].split():
    frame_id, sha256, status = line.split("|")
    paths = [f"/frames/{frame_id}/latent"] + ([f"/frames/{frame_id}/segmentation"]
                                              if status == "done" else [])
    for path in paths:
        request = urllib.request.Request(url + path, headers={"authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
        except OSError as error:
            lost.append(f"{path}: {error}")
            continue
        if path.endswith("/latent") and hashlib.sha256(body).hexdigest() != sha256:
            lost.append(f"{path}: different bytes")
for problem in lost:
    print("    lost:", problem)
sys.exit(1 if lost else 0)
PYTHON
count_after=$(sql "SELECT count(*) FROM frames")
[ "$count_after" -ge "$count_before" ] || fail "$count_before frames before, $count_after after"
say "all $count_before frames read back; $count_after stored now (the simulator kept streaming)"
wait_for 300 "frames received after the restart are segmented too" \
    segmented_at_least "$((count_before + 1))"
say "checks done in $((SECONDS - check_start)) s"
