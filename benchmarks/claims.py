"""The papers' claims, measured on the demo domains: each claim's run against its control, over seeds.

    python benchmarks/claims.py [--claims NAME,...] [--seeds 0,1,2] [--jobs N] [--out DIR] [--quick]

Every run is ``i2i train RECIPE --data demo[:shapes-styles]`` with the demo defaults (the recipe's
``tiny`` preset, 32×32) and a seed, scored by ``i2i eval --checkpoint RUN --suite oracle`` (50
inputs × 8 codes for multimodal runs). A run that several claims share (CycleGAN is the control of
three) trains once per seed. Thresholds apply to the mean over the seeds; a claim that one run
"beats" or is "not worse" than another must also be so in at least two thirds of the seeds.

Prints a Markdown table of the checks, one of every run's mean oracle scores, and as its last
line ``claims held K of N``; ``DIR/claims.json`` holds the same with every run's config, scores
and wall time, and the i2i and torch versions. ``--quick`` (2 steps, one seed, 2 codes per input)
only shows that the script runs: its numbers mean nothing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import attrs

UNIMODAL = "demo"
STYLED = "demo:shapes-styles"
UNIMODAL_SCORES = ("miou", "oracle_mae", "purity")
ROUNDOFF = 1e-9
MULTIMODAL_SCORES = ("miou", "purity", "valid_rate", "coverage", "per_input_coverage", "jsd", "pixel_diversity")


@attrs.frozen
class Run:
    """One training configuration: a recipe on a demo domain, with plugins added and settings changed."""

    recipe: str
    data: str = UNIMODAL
    adds: tuple = ()
    sets: tuple = ()  # (key, value) pairs

    @property
    def name(self) -> str:
        text = "+".join((self.recipe, *self.adds))
        if self.sets:
            text += "[" + ",".join(f"{k}={v}" for k, v in self.sets) + "]"
        return text

    @property
    def multimodal(self) -> bool:
        return self.data == STYLED

    def folder(self, seed: int) -> str:
        safe = "".join(c if c.isalnum() or c in "+-_.=" else "_" for c in self.name)
        return f"{safe}-seed{seed}"

    def train_args(self, out: Path, seed: int, quick: bool) -> list[str]:
        args = ["train", self.recipe, "--data", self.data, "--out", str(out), "--seed", str(seed)]
        for plugin in self.adds:
            args += ["--add", plugin]
        for key, value in self.sets:
            args += ["--set", f"{key}={value}"]
        if quick:
            args += ["--steps", "2", "--eval-every", "2"]
        return args


@attrs.frozen
class Check:
    """``metric`` of the claim's run against a fixed ``threshold`` or against a control run.

    kind: at_least   mean ≥ threshold
          beats      mean ≥ control's mean + threshold, and so in two thirds of the seeds
          not_worse  mean ≥ control's mean − threshold, and so in two thirds of the seeds
          within     |mean − control's mean| ≤ threshold
          faster     mean wall time ≤ control's
    """

    metric: str
    kind: str
    threshold: float = 0.0
    control: Run | None = None

    def describe(self) -> str:
        if self.kind == "faster":
            return "wall time ≤ control's"
        what = {"at_least": f"≥ {self.threshold:g}", "beats": f"≥ control + {self.threshold:g}",
                "not_worse": f"≥ control − {self.threshold:g}" if self.threshold else "≥ control",
                "within": f"within {self.threshold:g} of control"}[self.kind]
        return f"{self.metric} {what}"

    def evaluate(self, mine: list[float], theirs: list[float] | None) -> bool:
        """Comparisons forgive float round-off (ROUNDOFF), so a value on its threshold holds."""
        mean = _mean(mine)
        if self.kind == "at_least":
            return mean >= self.threshold - ROUNDOFF
        other = _mean(theirs)
        if self.kind == "faster":
            return mean <= other + ROUNDOFF
        if self.kind == "within":
            return abs(mean - other) <= self.threshold + ROUNDOFF
        margin = self.threshold if self.kind == "beats" else -self.threshold
        wins = sum(a >= b + margin - ROUNDOFF for a, b in zip(mine, theirs))
        return mean >= other + margin - ROUNDOFF and wins >= math.ceil(2 * len(mine) / 3)


@attrs.frozen
class Claim:
    name: str
    statement: str
    run: Run
    checks: tuple

    def runs(self) -> list[Run]:
        return [self.run] + [c.control for c in self.checks if c.control is not None]


def _claims() -> list[Claim]:
    cyclegan, cut, fastcut = Run("cyclegan"), Run("cut"), Run("fastcut")
    pix2pix = Run("pix2pix")
    styled = {name: Run(name, STYLED) for name in ("bicyclegan", "msgan", "divco", "drit", "dritpp", "munit")}

    def diverse(*extra) -> tuple:
        return (Check("per_input_coverage", "at_least", 0.6), Check("valid_rate", "at_least", 0.6),
                Check("miou", "at_least", 0.40), *extra)

    # BicycleGAN's control is pix2pix + noise: the same networks and code, with latent regression,
    # KL and the cVAE path (D on G(A, E(B)) and its L1) off; the L1 and D2 judge G(A, z) instead.
    pix2pix_noise = Run("bicyclegan", STYLED, sets=(("latent_regression.weight", 0), ("kl.weight", 0),
                                                     ("adversarial.weight", 0),
                                                     ("paired_l1.pairs", '[["fake_B_random","real_B_encoded"]]')))
    no_ms = Run("msgan", STYLED, sets=(("mode_seeking.weight", 0),))
    no_divco = Run("divco", STYLED, sets=(("divco.weight", 0),))
    return [
        Claim("cyclegan", "unpaired translation recovers the mapping", cyclegan, (Check("miou", "at_least", 0.55),)),
        Claim("cut", "CUT beats CycleGAN, with one generator", cut,
              (Check("miou", "not_worse", 0.0, cyclegan), Check("wall_s", "faster", control=cyclegan))),
        Claim("fastcut", "FastCUT close to CycleGAN at lower cost", fastcut,
              (Check("miou", "not_worse", 0.05, cyclegan),)),
        Claim("pix2pix", "paired translation", pix2pix, (Check("miou", "at_least", 0.85),)),
        Claim("cyclegan+patchnce", "PatchNCE drops into any recipe with feature taps",
              Run("cyclegan", adds=("patchnce",)), (Check("miou", "not_worse", 0.02, cyclegan),)),
        Claim("bicyclegan", "diverse and realistic where pix2pix+noise collapses", styled["bicyclegan"],
              diverse(Check("per_input_coverage", "beats", 0.15, pix2pix_noise))),
        Claim("msgan", "mode seeking adds diversity to a cGAN", styled["msgan"],
              diverse(Check("per_input_coverage", "beats", 0.15, no_ms))),
        Claim("divco", "the contrastive loss beats mode seeking", styled["divco"],
              diverse(Check("per_input_coverage", "beats", 0.15, no_divco),
                      Check("per_input_coverage", "not_worse", 0.0, styled["msgan"]))),
        Claim("drit", "attribute codes give diverse outputs", styled["drit"], diverse()),
        Claim("dritpp", "DRIT++'s mode seeking adds diversity", styled["dritpp"],
              diverse(Check("per_input_coverage", "not_worse", 0.0, styled["drit"]))),
        Claim("munit", "style codes give diverse outputs", styled["munit"], diverse()),
        Claim("munit+mode_seeking", "the mode-seeking regularizer drops into another recipe",
              Run("munit", STYLED, adds=("mode_seeking",)),
              (Check("per_input_coverage", "not_worse", 0.0, styled["munit"]),
               Check("miou", "within", 0.02, styled["munit"]), Check("miou", "at_least", 0.40))),
        Claim("drit+divco", "DivCo's loss drops into another recipe", Run("drit", STYLED, adds=("divco",)),
              (Check("per_input_coverage", "not_worse", 0.0, styled["drit"]),
               Check("miou", "within", 0.02, styled["drit"]), Check("miou", "at_least", 0.40))),
    ]


CLAIMS = {claim.name: claim for claim in _claims()}


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def _i2i(args: list[str], threads: int, log) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", "i2i_core", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"`i2i {' '.join(args)}` exited with status {done.returncode}; see {log.name}")


def train_and_score(run: Run, seed: int, folder: Path, threads: int, quick: bool) -> dict:
    """Train one run, score it with the oracle; its record (config, scores, wall time)."""
    folder.mkdir(parents=True, exist_ok=False)
    out = folder / "run"
    with open(folder / "log.txt", "w") as log:
        start = time.perf_counter()
        _i2i(run.train_args(out, seed, quick), threads, log)
        wall = time.perf_counter() - start
        evaluate = ["eval", "--checkpoint", str(out), "--suite", "oracle"]
        if quick and run.multimodal:
            evaluate += ["--samples", "2"]
        _i2i(evaluate, threads, log)
    report = max((out / "eval").glob("*.json"))
    scores = json.loads(report.read_text())["scores"]
    return {"run": run.name, "seed": seed, "folder": str(out), "wall_s": round(wall, 2),
            "scores": {k: v for k, v in scores.items() if isinstance(v, (int, float))},
            "config": json.loads((out / "config.json").read_text())}


def value(record: dict, metric: str) -> float:
    return record["wall_s"] if metric == "wall_s" else record["scores"][metric]


def judge(claims: list[Claim], records: dict, seeds: list[int]) -> list[dict]:
    rows = []
    for claim in claims:
        for check in claim.checks:
            mine = [value(records[(claim.run, s)], check.metric) for s in seeds]
            theirs = None if check.control is None else [value(records[(check.control, s)], check.metric)
                                                         for s in seeds]
            rows.append({"claim": claim.name, "statement": claim.statement, "run": claim.run.name,
                         "check": check.describe(), "metric": check.metric, "values": mine, "mean": _mean(mine),
                         "control": None if check.control is None else check.control.name,
                         "control_values": theirs, "control_mean": None if theirs is None else _mean(theirs),
                         "threshold": check.threshold, "holds": check.evaluate(mine, theirs)})
    return rows


def _fmt(x: float, metric: str) -> str:
    return f"{x:.1f}" if metric == "wall_s" else f"{x:.3f}"


def checks_table(rows: list[dict]) -> str:
    lines = ["| claim | check | measured (per seed) | mean | control (mean) | holds |", "|---|---|---|---|---|---|"]
    for r in rows:
        per_seed = " / ".join(_fmt(v, r["metric"]) for v in r["values"])
        control = "—" if r["control"] is None else f"`{r['control']}` ({_fmt(r['control_mean'], r['metric'])})"
        lines.append(f"| `{r['claim']}` | {r['check']} | {per_seed} | {_fmt(r['mean'], r['metric'])} | {control} | "
                     f"{'yes' if r['holds'] else '**no**'} |")
    return "\n".join(lines)


def runs_table(runs: list[Run], records: dict, seeds: list[int]) -> str:
    out = []
    for multimodal, names in ((False, UNIMODAL_SCORES), (True, MULTIMODAL_SCORES)):
        chosen = [r for r in runs if r.multimodal == multimodal]
        if not chosen:
            continue
        out += [f"| run ({STYLED if multimodal else UNIMODAL}, mean of {len(seeds)} seed(s)) | "
                + " | ".join(f"`{n}`" for n in names) + " | wall s |", "|---" * (len(names) + 2) + "|"]
        for run in chosen:
            cells = [_fmt(_mean(records[(run, s)]["scores"].get(n, float("nan")) for s in seeds), n) for n in names]
            wall = _mean(records[(run, s)]["wall_s"] for s in seeds)
            out.append(f"| `{run.name}` | " + " | ".join(cells) + f" | {wall:.0f} |")
        out.append("")
    return "\n".join(out).rstrip()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", default=",".join(CLAIMS), help=f"comma-separated, of: {', '.join(CLAIMS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run in parallel (each gets cores/jobs threads)")
    parser.add_argument("--out", type=Path, default=Path("runs/claims"))
    parser.add_argument("--quick", action="store_true", help="2 steps, seed 0 only: checks that the script runs")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.claims.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLAIMS]
    if unknown or not names:
        parser.error(f"unknown claim(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(CLAIMS)}")
    try:
        seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds expects integers separated by commas, got {args.seeds!r}")
    if not seeds or len(set(seeds)) != len(seeds):
        parser.error(f"--seeds needs distinct seeds, got {args.seeds!r}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file, not a folder")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out} is not empty; choose a new folder (runs are never overwritten)")
    return args, [CLAIMS[n] for n in names], seeds


def main(argv=None) -> int:
    import torch

    import i2i_core

    args, claims, seeds = parse_args(argv)
    runs = list(dict.fromkeys(run for claim in claims for run in claim.runs()))
    jobs = [(run, seed) for run in runs for seed in seeds]
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{len(claims)} claim(s), {len(runs)} run(s) × {len(seeds)} seed(s) = {len(jobs)} trainings, "
          f"{args.jobs} at a time with {threads} thread(s) each; logs in {args.out}", file=sys.stderr)
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {job: pool.submit(train_and_score, job[0], job[1], args.out / job[0].folder(job[1]), threads,
                                    args.quick) for job in jobs}
        records = {}
        for (run, seed), future in futures.items():
            records[(run, seed)] = future.result()
            print(f"  {run.name} seed {seed}: miou {records[(run, seed)]['scores'].get('miou', float('nan')):.3f} "
                  f"({records[(run, seed)]['wall_s']:.0f} s)", file=sys.stderr)
    rows = judge(claims, records, seeds)
    held = [c.name for c in claims if all(r["holds"] for r in rows if r["claim"] == c.name)]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} thread(s) per run"
    result = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine,
              "i2i_version": i2i_core.__version__, "torch_version": torch.__version__, "seeds": seeds,
              "quick": args.quick, "jobs": args.jobs, "total_s": round(time.perf_counter() - start, 1),
              "checks": rows, "held": held, "claims": [c.name for c in claims],
              "runs": [records[job] for job in jobs]}
    (args.out / "claims.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"Claims on {machine}, seeds {', '.join(map(str, seeds))}{' (--quick: meaningless)' if args.quick else ''}:\n")
    print(checks_table(rows))
    print()
    print(runs_table(runs, records, seeds))
    print()
    print(f"claims held {len(held)} of {len(claims)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
