#!/usr/bin/env bash
# Rate–distortion of the shipped codecs on CamVid val at full resolution, against JPEG
# (optimize=True), WebP and AVIF at the same per-frame CF, plus the paper's Figs. 5–6 sweep.
# Writes results/rd/ (the shipped rate ladder: rd.md, rd.json, psnr_vs_cf.png, ssim_vs_cf.png),
# results/codec/*.json (the paper-architecture codecs), results/sweep/ (Figs. 5–6).
#   bash benchmarks/codec_rd.sh [CAMVID_ROOT]
set -euo pipefail
root="${1:-${LATENTLINK_DATA_ROOT:-../shared/datasets/camvid}}"
out=results/codec
mkdir -p "$out"
latentlink rd-curves --data-root "$root" --split val --compare jpeg,webp,avif --out-dir results/rd
for spec in "2 default:clamp" "2 default:paper" "2 default:edge" "1 default:clamp" "3 default:clamp"; do
  set -- $spec
  name="d$1_${2#default}"; name="${name%_}"; name="${name/:/}"
  latentlink eval-codec --weights "$2" --depth "$1" --data-root "$root" --split val \
    --compare jpeg,webp --json "$out/$name.json"
done
# AVIF is ~50x slower to search than JPEG: the default codec only, first 30 frames.
latentlink eval-codec --weights default --depth 2 --data-root "$root" --split val --limit 30 \
  --compare jpeg,webp,avif --json "$out/d2_avif30.json"
latentlink sweep-codec --data-root "$root" --split val --limit 20 --compare jpeg \
  --out-dir results/sweep
latentlink bench-huffman --weights default --depth 2 --data-root "$root" --split val \
  --json results/huffman.json
