"""The log book of a run: per-term sums between log rows, non-finite detection, ``metrics.jsonl``, plots.

Losses stay on the device: each step adds every term into a running sum and records, without a
synchronisation, the first step at which the term was not finite. Both are read only when a row
is written (every ``--log-every`` steps) or before a checkpoint.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from .. import checkpoint as ckpt
from .. import distributed
from ..errors import NonFiniteLoss

NEVER = torch.iinfo(torch.long).max  # first bad step of a term that never went non-finite


class LogBook:
    def __init__(self, out: Path, world):
        self.out, self.world = Path(out), world
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}  # per term: a phase with every=k records one step in k
        self.first_bad: dict[str, torch.Tensor] = {}

    @property
    def path(self) -> Path:
        return self.out / "metrics.jsonl"

    def record(self, key: str, value: torch.Tensor, iteration: int) -> None:
        value = value.float()
        if key not in self.sums:
            self.sums[key] = torch.zeros((), device=value.device)
            self.first_bad[key] = torch.full((), NEVER, dtype=torch.long, device=value.device)
        self.sums[key] += value
        self.counts[key] = self.counts.get(key, 0) + 1
        # value - value is 0 when the value is finite and NaN otherwise: cheaper than isfinite, every step
        bad_at = torch.where((value - value).ne(0), iteration + 1, NEVER)
        torch.minimum(self.first_bad[key], bad_at, out=self.first_bad[key])

    def check_finite(self, last_checkpoint: Path | None) -> None:
        """Raise :class:`NonFiniteLoss` for the earliest step at which any term was not finite."""
        if not self.first_bad:
            return
        firsts = distributed.all_reduce_(torch.stack(list(self.first_bad.values())), self.world,
                                         torch.distributed.ReduceOp.MIN)
        steps = [-1 if v == NEVER else v for v in firsts.tolist()]  # one sync for every term
        bad = [(step, n, key) for n, (key, step) in enumerate(zip(self.first_bad, steps)) if step >= 0]
        if bad:
            step, _, key = min(bad)  # the earliest step; within it, the first term computed
            raise NonFiniteLoss(key, step, last_checkpoint)

    def write_row(self, step: int, scores: dict | None = None) -> dict:
        """The means since the last row (over steps and processes), appended to ``metrics.jsonl``."""
        row = {"step": step, "world_size": self.world.size}
        values = []
        if self.sums:  # every rank computes every term, so the sums line up across ranks
            values = distributed.all_reduce_(torch.stack(list(self.sums.values())), self.world).cpu().tolist()
        for key, total in zip(self.sums, values):
            row[key] = total / (max(1, self.counts.get(key, 0)) * self.world.size)
            self.sums[key].zero_()
        row.update(scores or {})
        self.counts = {}
        if self.world.main:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        return row

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict, device) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.first_bad = {k: torch.full((), NEVER, dtype=torch.long, device=device) for k in self.sums}
        self.counts = {k: int(v) for k, v in state["counts"].items()}

    # -- files ---------------------------------------------------------------------------------
    def drop_rows_after(self, start: int) -> None:
        """Keep only the rows up to the step a run starts from. Later rows (and a half-written last
        line) come from a run killed before its next checkpoint; the resumed run logs those steps
        again, so keeping them would give every such step two rows."""
        if not self.path.exists():
            return
        lines = self.path.read_text().splitlines(keepends=True)
        torn = bool(lines) and row_step(lines[-1]) is None  # a line the kill cut short; other lines stay
        kept = [line for line in lines[:-1 if torn else None] if (row_step(line) or 0) <= start]
        if kept != lines or (kept and not kept[-1].endswith("\n")):
            text = "".join(line if line.endswith("\n") else line + "\n" for line in kept)
            ckpt.write_atomic(self.path, lambda f: f.write(text.encode()))

    def plot(self) -> None:
        from ..plot import plot_run

        try:
            plot_run(self.out)
        except Exception as exc:  # a plot must never hide how the run itself ended
            print(f"i2i: could not draw {self.out / 'plots' / 'losses.png'}: {exc}", file=sys.stderr)


def row_step(line: str) -> int | None:
    """The step of a metrics.jsonl line, or None when the line is not a whole row with a step."""
    try:
        step = json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None
