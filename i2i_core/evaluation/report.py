"""The report: made from the results, written as JSON, formatted as a table for the terminal."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__


def timestamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def make_report(source: dict, results: dict, skipped: dict, device) -> dict:
    import torch

    return {"i2i_version": __version__, "torch_version": torch.__version__, "device": str(device),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "source": source,
            "scores": {name: record["value"] for name, record in results.items()},
            "results": results, "skipped": skipped}


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_report(report: dict, path: Path, unique: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if unique:
        stem, n = path.stem, 1
        while path.exists():
            path = path.with_name(f"{stem}-{n}.json")
            n += 1
    path.write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    return path


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return f"{value:g}"
    return f"{value:.4g}"


def _details(record: dict) -> str:
    parts = []
    if record.get("features"):
        parts.append(f"features {record['features']}")
    if record.get("std") is not None and record.get("metric") in ("kid", "is"):
        parts.append(f"± {record['std']:.2g} (std over {record.get('subsets') or record.get('splits')})")
    if record.get("bins"):
        parts.append(f"{record['bins']} bins")
    if record.get("subset_size"):
        whole = record.get("subsets") == 1 and record.get("subset_size") == record.get("n_real") == record.get("n_fake")
        parts.append("whole sets" if whole else f"subsets of {record['subset_size']}")
    if record.get("n_real") is not None:
        parts.append(f"n {record['n_real']}/{record['n_fake']}")
    elif record.get("n_fake") is not None:
        parts.append(f"n {record['n_fake']}")
    if record.get("samples"):
        parts.append(f"{record['n_inputs']} inputs x {record['samples']}")
    return ", ".join(parts)


def format_table(report: dict) -> str:
    source = report["source"]
    if "checkpoint" in source:
        title = (f"{source['checkpoint']}: {source['recipe']} at step {source['step']}, {source['data']} test split, "
                 f"{source['direction']}, {source['inputs']} inputs"
                 + (f" x {source['samples_per_input']} samples" if source.get("samples_per_input") else ""))
    else:
        title = f"real {source['real']} ({source['n_real']}) vs generated {source['fake']} ({source['n_fake']})"
    rows = [(name, _format(record["value"]), record["suite"], _details(record))
            for name, record in report["results"].items()]
    widths = [max(len(r[i]) for r in rows + [("name", "value", "suite", "")]) for i in range(3)]
    lines = [title, f"{'name':<{widths[0]}}  {'value':>{widths[1]}}  {'suite':<{widths[2]}}  details"]
    lines += [f"{n:<{widths[0]}}  {v:>{widths[1]}}  {s:<{widths[2]}}  {d}".rstrip() for n, v, s, d in rows]
    miou = report["results"].get("miou")
    if miou is not None and "per_class_iou" in miou:
        lines.append("per-class IoU: " + ", ".join(f"{k} {v:.3f}" for k, v in miou["per_class_iou"].items()))
        lines.append("confusion (rows true, columns predicted; background, disc, square, triangle):")
        lines += ["  " + " ".join(f"{count:>7d}" for count in row) for row in miou["confusion"]]
    for metric_id, reason in report["skipped"].items():
        lines.append(f"skipped {metric_id}: {reason}")
    return "\n".join(lines)
