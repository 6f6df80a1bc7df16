#!/usr/bin/env bash
# The main job: set up, then round-trip frames vehicle → cloud with the shipped codec.
# Uses CamVid from ../shared/datasets/camvid when it is there, synthetic scenes otherwise.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$repo"
data_root="${LATENTLINK_DATA_ROOT:-$repo/../shared/datasets/camvid}"
if [ -d "$data_root/val" ]; then
  exec latentlink demo --data-root "$data_root" "$@"
fi
exec latentlink demo "$@"
