"""How one training run runs: length, seed, intervals, device and speed switches."""
from __future__ import annotations

from pathlib import Path

import attrs


@attrs.define(kw_only=True)
class TrainOptions:
    data: str
    out: Path = attrs.field(converter=Path)
    steps: int | None = None
    epochs: int | None = None
    device: str | None = None
    seed: int = 0
    direction: str = attrs.field(default="AtoB", validator=attrs.validators.in_(["AtoB", "BtoA"]))
    log_every: int = 50
    save_every: int = 1000
    sample_every: int = 500
    keep: int = 0
    workers: int | None = None
    samples: int = 4
    eval_every: int | None = None  # demo data: score the oracle every N steps into metrics.jsonl
    precision: str = attrs.field(default="auto", validator=attrs.validators.in_(["auto", "bf16", "fp32"]))
    compile: str = attrs.field(default="auto", validator=attrs.validators.in_(["auto", "on", "off"]))
