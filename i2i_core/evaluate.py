"""``i2i eval``: score a trained run on its test set, or any two folders, offline; say how each number was made.

- ``--checkpoint RUN``: translates the test split in the run's direction (the demo's paired test
  split for demo data; ``testA/``→``testB/`` or aligned ``test/`` for a folder) and runs the
  suites that apply: ``oracle`` on demo data, ``paired`` when outputs have ground truth,
  ``distribution``, and ``diversity`` for multimodal runs (S samples per input, ``--samples``,
  8 by default). The report goes to ``RUN/eval/<UTC timestamp>.json``.
- ``--real DIR --fake DIR``: ``distribution`` by default, plus ``paired`` when the two folders hold
  the same file names; the report goes to ``--report FILE`` when given.
``--suite`` and ``--metrics`` choose instead. The ``inception`` suite (FID, KID and IS on the FID
Inception) joins when its weight file is found or given; LPIPS joins ``paired`` / ``diversity``
when its backbone and linear layers are. Every number in the JSON report carries its metric id,
i2i and torch versions, feature space and its sha256, resize mode, sample counts, subsets, seed,
dtype and device.
"""
from __future__ import annotations

import json
import math
import random
from datetime import datetime, timezone
from pathlib import Path

import attrs

from . import __version__
from .errors import ConfigError, I2IError

DEFAULT_SAMPLES = 8


@attrs.define(kw_only=True)
class EvalOptions:
    suites: tuple = ()
    metrics: tuple = ()
    features: str = "pixel16"
    seed: int = 0
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    ndb_bins: int | None = None
    fid_resize: str = "pytorch-fid"
    inception: Path | None = None
    lpips_net: str = "alex"
    lpips_version: str = "0.1"
    lpips_backbone: Path | None = None
    lpips_lin: Path | None = None
    device: str | None = None


class EvalContext:
    """What metrics share during one evaluation: feature spaces and features (computed once),
    the running suite, the options and the device."""

    def __init__(self, options: EvalOptions, device):
        self.options, self.device, self.seed = options, device, options.seed
        self.suite: str | None = None
        self._cache: dict = {}

    def cached(self, key, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def feature_space(self, name: str | None = None):
        from .metrics.features import feature_space

        name = name or ("inception" if self.suite == "inception" else self.options.features)
        return self.cached(("space", name), lambda: feature_space(
            name, inception=self.options.inception, fid_resize=self.options.fid_resize, device=self.device))

    def features(self, space, which: str, images):
        return self.cached(("features", space.id, which), lambda: space(images, self.device, progress=True))

    def lpips(self):
        from .metrics.lpips import load_lpips

        def load():
            model, record = load_lpips(self.options.lpips_net, self.options.lpips_version,
                                       self.options.lpips_backbone, self.options.lpips_lin)
            return model.to(self.device), record
        return self.cached(("lpips",), load)


# ------------------------------------------------------------------------------------ planning
def weights_present(options: EvalOptions) -> dict[str, bool]:
    """Whether the Inception file and the LPIPS files can be found (a wrong checksum still fails later)."""
    from .metrics import weights
    from .metrics.lpips import packaged_linear_candidates

    def found(file, explicit):
        if explicit is not None:
            return True
        return any(place is not None and (place / name).is_file()
                   for _, place in weights.search_places(None, "")[1:] for name in (file.name, *file.aliases))

    lin = options.lpips_lin is not None or any(
        p.is_file() for p in packaged_linear_candidates(options.lpips_net, options.lpips_version))
    return {"inception": found(weights.INCEPTION, options.inception),
            "lpips": lin and found(weights.BACKBONES.get(options.lpips_net, weights.ALEXNET), options.lpips_backbone)}


def plan(options: EvalOptions, applicable: list[str]) -> list[tuple[str, object]]:
    """(suite, metric) jobs: the metrics named by ``--metrics``, else every metric of the suites."""
    from .metrics.registry import SUITES, registered, suite_metrics

    table = registered()
    if options.metrics:
        jobs = []
        for metric_id in options.metrics:
            if metric_id not in table:
                raise ConfigError(f"unknown metric {metric_id!r}; valid: {', '.join(sorted(table))}")
            metric = table[metric_id]
            in_reach = [s for s in metric.suites if s in applicable]
            jobs.append((in_reach[0] if in_reach else (metric.suites[0] if metric.suites else "custom"), metric))
        return jobs
    suites = list(options.suites or applicable)
    for suite in suites:
        if suite not in SUITES:
            raise ConfigError(f"unknown suite {suite!r}; valid: {', '.join(SUITES)}")
    present = weights_present(options)
    if not options.suites and present["inception"]:
        suites.append("inception")
    # On Inception features the distribution suite's fd and kid are the inception suite's fid and kid.
    same_as_inception = {"fd", "kid"} if options.features == "inception" and "inception" in suites else set()
    jobs = []
    for suite in suites:
        if suite == "oracle":
            continue  # scored by the oracle itself, on the demo data only
        jobs += [(suite, metric) for metric in suite_metrics(suite, table)
                 if (not metric.needs or present[metric.needs])
                 and not (suite == "distribution" and metric.id in same_as_inception)]
    return jobs


def run_jobs(sets, jobs, ctx: EvalContext) -> tuple[dict, dict]:
    """(results by name, skipped metric ids with the reason)."""
    from .metrics.errors import TooFewSamples

    results, skipped = {}, {}
    for suite, metric in jobs:
        ctx.suite = suite
        try:
            found = metric.compute(sets, ctx)
        except TooFewSamples as exc:
            skipped[f"{metric.id} ({suite})"] = str(exc)
            continue
        for name, record in found.items():
            if name in results:
                raise I2IError(f"metric {metric.id!r} reports {name!r}, which another metric already reported")
            results[name] = provenance(metric.id, suite, record, ctx, sets)
    return results, skipped


def provenance(metric_id: str, suite: str, record: dict, ctx: EvalContext, sets=None) -> dict:
    """Every provenance field of one number; ``record`` overrides the defaults (and gives the
    sample counts where there is no image set)."""
    import torch

    base = {"metric": metric_id, "suite": suite, "i2i_version": __version__, "torch_version": torch.__version__,
            "device": str(ctx.device), "dtype": "float64", "features": None, "features_sha256": None,
            "resize": "none", "n_real": None if sets is None or sets.real is None else len(sets.real),
            "n_fake": None if sets is None else len(sets.fake), "subsets": None, "subset_size": None,
            "seed": ctx.seed}
    return {**base, **record}


# ------------------------------------------------------------------------------------ image sets
def to_uint8(images):
    """Float images in [0, 1] → uint8, truncating as a saved PNG does (``floor(x · 255)``)."""
    import torch

    return (images.float().clamp(0, 1) * 255).floor().to(torch.uint8)


def load_folder(folder: Path) -> tuple[list[str], "torch.Tensor", str | None]:
    """(relative stems, uint8 N×3×H×W, how images were resized or None) of every image in ``folder``.

    Images of several sizes are resized (bilinear, antialiased) to the most common size, as photo
    collections need; every feature space resizes anyway, and paired metrics are then skipped."""
    import collections

    import torch
    import torch.nn.functional as F

    from .data import find_images, load_image

    folder = Path(folder)
    if not folder.is_dir():
        raise I2IError(f"{folder} is not a folder of images")
    files = find_images(folder)
    if not files:
        raise I2IError(f"{folder} holds no images")
    images = [load_image(path, channels=3) for path in files]
    sizes = collections.Counter(tuple(image.shape[1:]) for image in images)
    resized = None
    if len(sizes) > 1:
        (h, w), _ = sizes.most_common(1)[0]
        moved = sum(tuple(image.shape[1:]) != (h, w) for image in images)
        images = [image if tuple(image.shape[1:]) == (h, w) else
                  F.interpolate(image[None], size=(h, w), mode="bilinear", antialias=True, align_corners=False)[0]
                  for image in images]
        resized = f"{moved} of {len(images)} images resized to {w}x{h} (bilinear, antialiased)"
    stems = [str(path.relative_to(folder).with_suffix("")) for path in files]
    return stems, torch.stack([(image.clamp(0, 1) * 255).round().to(torch.uint8) for image in images]), resized


def evaluate_folders(real_dir: Path, fake_dir: Path, options: EvalOptions) -> dict:
    from .metrics.registry import ImageSets
    from .trainer import default_device

    real_stems, real, real_resized = load_folder(real_dir)
    fake_stems, fake, fake_resized = load_folder(fake_dir)
    same_names = sorted(real_stems) == sorted(fake_stems)
    why_unpaired = None
    if same_names and (real_resized or fake_resized or real.shape[1:] != fake.shape[1:]):
        why_unpaired = (f"same file names, but the images differ in size (real {real.shape[3]}x{real.shape[2]}, "
                        f"fake {fake.shape[3]}x{fake.shape[2]}, or resized within a folder)")
    paired = same_names and why_unpaired is None
    if paired:  # the same order in both sets
        order = {stem: i for i, stem in enumerate(fake_stems)}
        fake = fake[[order[stem] for stem in real_stems]]
    sets = ImageSets(real=real, fake=fake, paired=paired)
    applicable = ["distribution"] + (["paired"] if paired else [])
    device = default_device(options.device)
    results, skipped = run_jobs(sets, plan(options, applicable), EvalContext(options, device))
    if why_unpaired:
        skipped["paired"] = why_unpaired
    source = {"real": str(real_dir), "fake": str(fake_dir), "paired_by_file_name": paired,
              "n_real": len(real), "n_fake": len(fake), "real_resized": real_resized, "fake_resized": fake_resized}
    return make_report(source, results, skipped, device)


# ------------------------------------------------------------------------------------ checkpoints
def run_folder(checkpoint: Path) -> Path:
    if checkpoint.is_dir():
        return checkpoint
    return checkpoint.parent.parent if checkpoint.parent.name == "checkpoints" else checkpoint.parent


def folder_test_set(data: str, recipe, config: dict, direction: str) -> dict:
    """Source images, real target images (uint8) and whether they pair up, from a data folder's test split."""
    import torch

    from .data import SwapAB, load_image, open_dataset, to_channels

    build = config["build"]
    res = build["image_size"]
    in_channels, out_channels = build["in_channels"], build["out_channels"]
    dataset = open_dataset(data, paired=recipe.data.paired, phase="test", image_size=res, channels=in_channels,
                           channels_B=out_channels, direction=direction, load_size=res,
                           preprocess_mode=recipe.data.preprocess, flip=False)
    if recipe.data.paired:
        items = [dataset[(i, 0)] for i in range(len(dataset))]
        source = torch.stack([item["real_A"] for item in items])
        target = torch.stack([to_channels(item["real_B"], 3) for item in items])
        return {"source": source, "target": target, "paired": True}
    base = dataset.dataset if isinstance(dataset, SwapAB) else dataset
    source_files, target_files = (base.files_A, base.files_B) if direction == "AtoB" else (base.files_B, base.files_A)

    def load(files, channels):
        return torch.stack([base.preprocess(load_image(f, channels), random.Random(0)) * 2 - 1 for f in files])

    target = load(target_files, out_channels)
    if target.shape[1] == 1:
        target = target.expand(-1, 3, -1, -1)
    return {"source": load(source_files, in_channels), "target": target, "paired": False}


def evaluate_checkpoint(checkpoint: Path, options: EvalOptions, data: str | None = None,
                        samples: int | None = None) -> tuple[dict, Path]:
    """Translate the run's test set, score it, write ``RUN/eval/<UTC timestamp>.json``; (report, path)."""
    import torch

    from . import oracle
    from .demo import demo_name
    from .metrics.registry import ImageSets
    from .trainer import default_device
    from .translate import load_run, load_translator

    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise I2IError(f"--checkpoint {checkpoint} does not exist")
    recipe, state = load_run(checkpoint)
    config = json.loads(state["config"])
    direction = config["train"]["direction"]
    data = data or config["train"]["data"]
    try:
        demo = demo_name(data)
    except ValueError as exc:
        raise I2IError(str(exc)) from None
    # The run's data were swapped for BtoA, so its "AtoB" translator maps the run's direction.
    translator, nets = load_translator(checkpoint, direction="AtoB")
    device = default_device(options.device)
    nets = {name: net.to(device) for name, net in nets.items()}
    multimodal = translator.sample_code is not None
    if samples is not None and not multimodal:
        raise ConfigError("--samples needs a multimodal run (one that samples latent codes); this one is unimodal")
    if samples is not None and samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    if multimodal and samples is None:
        samples = DEFAULT_SAMPLES
    res = config["build"]["image_size"]
    if demo:
        count = oracle.MULTIMODAL_INPUTS if samples else oracle.TEST_IMAGES
        test = oracle.demo_test_batch(demo, res, count, direction)
        test["paired"] = True
    else:
        test = folder_test_set(data, recipe, config, direction)
    source = test["source"]
    if samples:
        all_codes = oracle.draw_codes(translator, len(source), samples, options.seed, device)
        groups = torch.stack([oracle.translate_batches(translator, nets, source, device,
                                                       lambda a, b, codes=codes: oracle.slice_code(codes, a, b),
                                                       progress=True)
                              for codes in all_codes], 1)
        fake = groups.flatten(0, 1)
    else:
        groups = None
        fake = oracle.translate_batches(translator, nets, source, device, progress=True)
    if fake.shape[1] == 1:
        fake = fake.expand(-1, 3, -1, -1)
    ctx = EvalContext(options, device)
    results, skipped = {}, {}
    wants_oracle = demo and (not options.metrics) and (not options.suites or "oracle" in options.suites)
    if options.suites and "oracle" in options.suites and not demo:
        raise ConfigError("the oracle suite needs demo data (--data demo:shapes or demo:shapes-styles)")
    if wants_oracle:
        palette, styled = oracle.target_palette(demo, direction)
        if samples:
            scores = oracle.multimodal_scores(groups, test["layout"], palette, styled=styled,
                                              truths=(test["target"] + 1) / 2)
        else:
            scores = oracle.unimodal_scores(fake, test["layout"], (test["target"] + 1) / 2, palette, styled=styled)
        results.update(oracle_records(scores, demo, ctx, len(source), samples))
    real = to_uint8((test["target"] + 1) / 2)
    sets = ImageSets(real=real, fake=to_uint8(fake), paired=test["paired"] and not samples,
                     groups=None if groups is None else to_uint8(groups))
    applicable = (["oracle"] if demo else []) + (["paired"] if sets.paired else []) + ["distribution"]
    if samples and samples > 1:
        applicable.append("diversity")
    found, skipped = run_jobs(sets, plan(options, applicable), ctx)
    results.update(found)
    run_dir = run_folder(checkpoint)
    source_info = {"checkpoint": str(checkpoint), "recipe": recipe.name, "step": int(state["step"]),
                   "data": data, "split": "test", "direction": direction, "image_size": res,
                   "inputs": len(source), "samples_per_input": samples, "code_seed": options.seed if samples else None}
    report = make_report(source_info, results, skipped, device)
    path = write_report(report, run_dir / "eval" / f"{timestamp()}.json", unique=True)
    return report, path


def oracle_records(scores: dict, demo: str, ctx: EvalContext, inputs: int, samples: int | None) -> dict:
    common = provenance("oracle", "oracle", {"dtype": "float32", "data": f"demo:{demo}", "n_real": inputs,
                                             "n_fake": inputs * (samples or 1), "seed": ctx.seed if samples else None,
                                             "samples_per_input": samples}, ctx)
    records = {}
    for key, value in scores.items():
        if isinstance(value, (int, float)) and key not in ("n_images", "n_inputs", "samples"):
            records[key] = {**common, "value": value}
    records["miou"].update(per_class_iou=scores["per_class_iou"], confusion=scores["confusion"],
                           confusion_layout="rows: true class, columns: predicted class (background, disc, "
                                            "square, triangle)")
    if "coverage" in records:
        records["coverage"].update(style_counts=scores["style_counts"])
    return records


# ------------------------------------------------------------------------------------ the report
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


# ------------------------------------------------------------------------------------ command line
def add_arguments(sub) -> None:
    e = sub.add_parser("eval", help="score a run's test set or two image folders (offline)")
    what = e.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", type=Path, help="a run folder or checkpoint file")
    what.add_argument("--real", type=Path, help="folder of real (reference) images; with --fake")
    e.add_argument("--fake", type=Path, help="folder of generated images; with --real")
    e.add_argument("--data", help="with --checkpoint: test data other than the run's (a folder or demo:NAME)")
    e.add_argument("--samples", type=int, metavar="S", help="multimodal runs: S outputs per input (default 8)")
    e.add_argument("--suite", dest="suites", action="append", default=[], metavar="NAME",
                   help="oracle, distribution, paired, diversity, inception (repeatable)")
    e.add_argument("--metrics", help="comma-separated metric ids instead of suites, e.g. fd,kid,ssim")
    e.add_argument("--report", type=Path, help="with --real/--fake: write the JSON report here "
                                                   "(default: eval-<UTC timestamp>.json in the current folder)")
    e.add_argument("--features", default="pixel16", help="feature space: pixel16 (default), rand@SEED, inception")
    e.add_argument("--seed", type=int, default=0, help="seeds subsets, k-means, projections and latent codes")
    e.add_argument("--device")
    e.add_argument("--kid-subsets", type=int, default=100)
    e.add_argument("--kid-subset-size", type=int, default=1000)
    e.add_argument("--ndb-bins", type=int, help="k-means bins (default: min(100, n_real // 50), at least 2)")
    e.add_argument("--inception", type=Path, help="pt_inception-2015-12-05-6726825d.pth (file or folder)")
    e.add_argument("--fid-resize", default="pytorch-fid", choices=["pytorch-fid", "clean", "tf1"])
    e.add_argument("--lpips-net", default="alex", choices=["alex", "vgg"])
    e.add_argument("--lpips-version", default="0.1", choices=["0.1", "0.0"])
    e.add_argument("--lpips-backbone", type=Path, help="alexnet-owt-7be5be79.pth or vgg16-397923af.pth")
    e.add_argument("--lpips-lin", type=Path, help="LPIPS linear layers (alex.pth / vgg.pth)")


def options_from(args) -> EvalOptions:
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip()) if args.metrics else ()
    return EvalOptions(suites=tuple(args.suites), metrics=metrics, features=args.features, seed=args.seed,
                       kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, ndb_bins=args.ndb_bins,
                       fid_resize=args.fid_resize, inception=args.inception, lpips_net=args.lpips_net,
                       lpips_version=args.lpips_version, lpips_backbone=args.lpips_backbone,
                       lpips_lin=args.lpips_lin, device=args.device)


def cmd_eval(args) -> int:
    options = options_from(args)
    if args.checkpoint is not None:
        if args.fake is not None or args.report is not None:
            raise ConfigError("--fake and --report go with --real; --checkpoint writes RUN/eval/<timestamp>.json")
        report, path = evaluate_checkpoint(args.checkpoint, options, data=args.data, samples=args.samples)
    else:
        if args.fake is None:
            raise ConfigError("--real needs --fake (the folder of generated images)")
        if args.data is not None or args.samples is not None:
            raise ConfigError("--data and --samples go with --checkpoint")
        report = evaluate_folders(args.real, args.fake, options)
        path = write_report(report, args.report or Path(f"eval-{timestamp()}.json"), unique=args.report is None)
    print(format_table(report))
    if path is not None:
        print(f"report: {path}")
    return 0
