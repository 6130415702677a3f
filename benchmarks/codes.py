"""Does a multimodal run's encoder encode the demo's four styles, and does its generator draw them?

    python benchmarks/codes.py RUN [--images 200] [--seed 0]

RUN is a run folder (or checkpoint) trained AtoB on demo:shapes-styles. On its test split:

  style codes  the translator's code of each B test image (E's μ, or the deterministic code) per
               true style: mean and within-style spread; then the singular values of the four
               style means, i.e. how many directions of the code space carry the styles
  transfer     each A test image translated with the code of a B test image; rows: that B image's
               style, columns: the style of the output's background (or invalid, farther than the
               oracle's τ from every style), as shares of the row
  prior        the styles of outputs for codes z ~ N(0, I), one per test image
  round trip   mean |code(G(x, z)) − z| against mean |z|, which a code of zeros would score: whether
               the encoder reads back the code G drew with

The prior row is what the oracle's per_input_coverage and valid_rate sample. Recipes whose
translator takes no style from an image (msgan) get the prior row only.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from i2i_core.demo import demo_name
from i2i_core.errors import I2IError
from i2i_core.oracle import (STYLE_NAMES, demo_test_batch, detect_styles, slice_code, styles_or_invalid,
                             translate_batches)
from i2i_core.translate import load_run, load_translator


def style_shares(outputs: torch.Tensor, layouts: torch.Tensor) -> list[float]:
    """Share of outputs (in [0, 1]) per style, then the invalid share."""
    styles = styles_or_invalid(outputs, layouts)
    return (torch.bincount(styles, minlength=len(STYLE_NAMES) + 1).float() / len(styles)).tolist()


def row(label: str, values) -> str:
    return f"{label:<14}" + "".join(f"{v:>8.2f}" for v in values)


def report(translator, nets, data: dict, prior) -> list[str]:
    """The tables for a translator on a demo test batch (``source``, ``target`` in [-1, 1], ``layout``)
    and one prior code per image."""
    lines = []
    true_styles, _ = detect_styles((data["target"] + 1) / 2, data["layout"])
    header = f"{'':<14}" + "".join(f"{name:>8}" for name in STYLE_NAMES + ("invalid",))
    sampled = translate_batches(translator, nets, data["source"], "cpu", lambda a, b: slice_code(prior, a, b))
    if translator.style_code is not None:
        with torch.no_grad():
            codes = translator.style_code(nets, data["target"])
            read_back = translator.style_code(nets, sampled * 2 - 1)
        lines.append("style codes (per true style of the B test images)")
        means = []
        for k, name in enumerate(STYLE_NAMES):
            of_style = codes[true_styles == k]
            if len(of_style) == 0:
                continue
            means.append(of_style.mean(0))
            spread = of_style.std(0).norm().item() if len(of_style) > 1 else 0.0
            lines.append(f"  {name:<7} n={len(of_style):<4} mean {[round(v, 2) for v in means[-1].tolist()]}  "
                         f"spread {spread:.2f}")
        centred = torch.stack(means) - torch.stack(means).mean(0)
        lines.append(f"  singular values of the style means: "
                     f"{[round(v, 2) for v in torch.linalg.svdvals(centred).tolist()]}")
        styled = translate_batches(translator, nets, data["source"], "cpu", lambda a, b: slice_code(codes, a, b))
        lines += ["", "transfer (rows: the style image's style; shares of the row)", header]
        for k, name in enumerate(STYLE_NAMES):
            if (true_styles == k).any():
                lines.append(row(name, style_shares(styled[true_styles == k], data["layout"][true_styles == k])))
        lines += ["", f"round trip |code(G(x, z)) − z| {(read_back - prior).abs().mean():.3f}; "
                      f"a zero code: {prior.abs().mean():.3f}"]
    lines += ["", "prior (z ~ N(0, I), one per test image)", header, row("share", style_shares(sampled, data["layout"]))]
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder or checkpoint of a demo:shapes-styles run (AtoB)")
    parser.add_argument("--images", type=int, default=200, help="test images (1-200; default 200)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the prior codes")
    args = parser.parse_args(argv)
    if not 1 <= args.images <= 200:
        parser.error(f"--images must be 1-200, got {args.images}")
    try:
        _, _, config = load_run(args.run)
    except I2IError as exc:
        raise SystemExit(f"codes.py: {exc}") from None
    if demo_name(config.data) != "shapes-styles" or config.direction != "AtoB":
        raise SystemExit(f"{args.run}: trained on {config.data} {config.direction}; this check reads runs trained "
                         f"AtoB on demo:shapes-styles, whose target domain has the four styles")
    translator, nets = load_translator(args.run)
    if translator.sample_code is None:
        raise SystemExit(f"{args.run}: its translator draws no latent code; this check is for multimodal runs")
    data = demo_test_batch("shapes-styles", res=config.build.image_size, count=args.images)
    prior = translator.sample_code(args.images, torch.Generator().manual_seed(args.seed), torch.device("cpu"))
    print("\n".join(report(translator, nets, data, prior)))


if __name__ == "__main__":
    main()
