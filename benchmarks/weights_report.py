"""Markdown tables of the shipped codec weights: provenance and CamVid val figures.

Reads the provenance inside each ``shared/latentlink/weights/codec_*.pt`` and the JSON written by
``benchmarks/codec_rd.sh`` (results/codec/*.json), so docs/weights.md can be regenerated:

    python benchmarks/weights_report.py > /tmp/weights_tables.md
"""

from __future__ import annotations

import json
from pathlib import Path

from latentlink.models.weights import SHIPPED_DIR, load_codec

RESULTS = Path("results/codec")


def variant_of(path: Path) -> tuple[int, str]:
    parts = path.stem.split("_")  # codec_d2_n8[_variant]
    return int(parts[1][1:]), parts[3] if len(parts) > 3 else "default"


def main() -> None:
    print("| weights | codec id | d | stem | λ | epochs | steps | train wall (h) "
          "| val PSNR* | val bpp* |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for path in sorted(SHIPPED_DIR.glob("codec_*.pt")):
        codec, provenance = load_codec(path)
        config = provenance["trained_with"]
        selected = {"val_psnr": float("nan"), "val_bpp": float("nan"),
                    **provenance.get("selected", {})}
        print(f"| `{path.name}` | `{provenance['codec_id']}` | {codec.config.depth} | "
              f"{codec.config.stem} | {config['rate_lambda']:g} | {provenance['epochs_run']} | "
              f"{provenance['steps_run']} | {provenance['wall_seconds'] / 3600:.2f} | "
              f"{selected['val_psnr']:.2f} | {selected['val_bpp']:.3f} |")
        depth, variant = variant_of(path)
        name = f"d{depth}" + ("" if variant == "default" else f"_{variant}")
        result = RESULTS / f"{name}.json"
        if result.is_file():
            rows.append((path.name, json.loads(result.read_text())))
    print("\n\\* at selection, on the first 20 val frames, entropy-bound rate "
          "(training's own check).\n")
    print("| weights | frames | CF | PSNR dB | SSIM | Huffman bits/symbol | entropy bits/symbol "
          "| JPEG PSNR / SSIM at same CF | WebP PSNR / SSIM at same CF |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        jpeg, webp = r["compare"]["jpeg"], r["compare"]["webp"]
        print(f"| `{name}` | {r['frames']} | {r['cf']:.1f} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
              f"{r['bits_per_symbol']:.3f} | {r['entropy_bits_per_symbol']:.3f} | "
              f"{jpeg['psnr']:.2f} / {jpeg['ssim']:.4f} | "
              f"{webp['psnr']:.2f} / {webp['ssim']:.4f} |")


if __name__ == "__main__":
    main()
