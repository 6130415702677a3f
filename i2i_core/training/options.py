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
    log_every: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    save_every: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    sample_every: int = attrs.field(default=500, validator=attrs.validators.ge(1))
    keep: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    workers: int | None = attrs.field(default=None, validator=attrs.validators.optional(attrs.validators.ge(0)))
    samples: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    eval_every: int | None = None  # demo data: score the oracle every N steps into metrics.jsonl
    precision: str = attrs.field(default="auto", validator=attrs.validators.in_(["auto", "bf16", "fp32"]))
    compile: str = attrs.field(default="auto", validator=attrs.validators.in_(["auto", "on", "off"]))
    log: tuple = attrs.field(default=(), converter=tuple)  # --log NAME: loggers that plugins register
