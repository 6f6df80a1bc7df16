#!/usr/bin/env bash
# Set up, then run the linter and the whole test suite (CamVid tests skip where the data is absent).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$repo"
ruff check .
exec python -m pytest "$@"
