"""The two evaluations of ``i2i eval``: two folders of images, or a trained run on its test set."""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, I2IError
from .context import EvalContext, EvalOptions
from .folders import folder_test_set, load_folder, run_folder, to_uint8
from .plan import plan, provenance, run_jobs
from .report import make_report, timestamp, write_report

DEFAULT_SAMPLES = 8


def evaluate_folders(real_dir: Path, fake_dir: Path, options: EvalOptions) -> dict:
    from ..device import default_device
    from ..metrics.registry import ImageSets

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


def evaluate_checkpoint(checkpoint: Path, options: EvalOptions, data: str | None = None,
                        samples: int | None = None) -> tuple[dict, Path]:
    """Translate the run's test set, score it, write ``RUN/eval/<UTC timestamp>.json``; (report, path)."""
    import torch

    from .. import oracle
    from ..demo import demo_name
    from ..device import default_device
    from ..metrics.registry import ImageSets
    from ..translate import load_run, load_translator

    checkpoint = Path(checkpoint)
    if not checkpoint.exists():
        raise I2IError(f"--checkpoint {checkpoint} does not exist")
    recipe, state, config = load_run(checkpoint)
    direction = config.direction
    data = data or config.data
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
    res = config.build.image_size
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
