"""Table I as Markdown (accuracy table, cost table, orderings) and JSON.

The paper's own numbers sit beside ours (CF and Dice columns) and the two orderings by mean Dice
are printed one above the other, because the claim worth checking is the *ordering* (BL 1 on
top, the proposed method close to BL 3 and BL 4, quality falling with d), not absolute values
that come from another data set and a 40× larger network.
"""

from __future__ import annotations

import json
from pathlib import Path

from latentlink.experiments.table1 import COST_PARTS


def table1_markdown(table: dict) -> str:
    """The whole report: header, accuracy table, cost table and orderings."""
    height, width = table["frame_size"]
    lines = [
        f"# Table I on {table['dataset']}/{table['test_split']} ({table['frames']} frames, "
        f"{width}×{height}), {table['preset']} preset",
        "",
        f"BL 2–4 use the d = {table['reference_depth']} codec; BL 4 is JPEG (Pillow, "
        f"optimize=True) at CF {table['jpeg_cf']:g}. Paper: Cityscapes, ResNet-50-wide segmenters.",
        "",
        "| method | trained on | tested on | CF | mean Dice | mIoU | SSIM | PSNR (dB) "
        "| paper CF | paper Dice |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table["rows"]:
        paper = row["paper"] or {}
        lines.append(_cells([
            row["label"], row["train_input"], row["test_input"], _number(row["cf"], 1),
            _number(row["dice"], 3), _number(row["miou"], 3), _number(row["ssim"], 3),
            _number(row["psnr"], 2), _number(paper.get("cf"), 0), _number(paper.get("dice"), 2),
        ]))
    lines += ["", "Parameters (M) / GMAC per frame and network part "
              "(net_seg,D holds the latent segmenter net_seg,D′ for the proposed rows):", "",
              _cells(["method", *COST_PARTS, "total GMAC"]),
              "|---" * (len(COST_PARTS) + 2) + "|"]
    for row in table["rows"]:
        cells = [row["label"]]
        for part in COST_PARTS:
            cost = row["parts"].get(part)
            cells.append(f"{cost['params'] / 1e6:.3f} / {cost['macs'] / 1e9:.2f}" if cost else "–")
        cells.append(f"{row['total_macs'] / 1e9:.2f}")
        lines.append(_cells(cells))
    lines += ["", "Ordering by mean Dice (best first):", "",
              f"- this run: {_ordering(table['rows'], lambda r: r['dice'])}",
              f"- paper:    {_ordering(table['rows'], lambda r: (r['paper'] or {}).get('dice'))}",
              ""]
    return "\n".join(lines)


def write_table1(table: dict, markdown_path: Path, json_path: Path) -> None:
    """Markdown report and JSON (everything but the figure's masks, which the PNG shows)."""
    figure = {k: v for k, v in table["figure"].items() if k != "masks"}
    for path, text in ((markdown_path, table1_markdown(table)),
                       (json_path, json.dumps({**table, "figure": figure}, indent=2))):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def _ordering(rows: list[dict], score) -> str:
    """Labels sorted by score, '>' between different scores and '=' between equal ones."""
    scored = sorted(((score(r), r["short"]) for r in rows
                     if score(r) is not None), key=lambda item: -item[0])
    text = ""
    for index, (value, label) in enumerate(scored):
        if index:
            text += " = " if round(value, 3) == round(scored[index - 1][0], 3) else " > "
        text += label
    return text


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _cells(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
