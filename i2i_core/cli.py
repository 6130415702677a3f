"""The ``i2i`` command line: recipes, plugins, train, translate, eval, export.

Bad input ends with one line on stderr naming what is wrong and exit status 2; a non-finite
loss with status 3; SIGINT/SIGTERM save a checkpoint and exit with 128 + the signal number.
``I2I_DEBUG=1`` prints the traceback above that line.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import sys
import traceback
from pathlib import Path

from . import distributed
from . import plugins as registry
from .errors import ConfigError, I2IError, Interrupted, NonFiniteLoss, message

# Demo data: the settings below the preset (a calibrated preset may change the batch and length).
DEMO_DEFAULTS = {"preset": "tiny", "image_size": 32, "settings": {"data.batch_size": 8, "data.steps": 400},
                 "sample_every": 100, "save_every": 200, "eval_every": 100}
PAPER_DEFAULTS = {"preset": "paper", "image_size": 256, "settings": {},
                  "sample_every": 500, "save_every": 1000, "eval_every": None}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2, like every other bad input
        raise ConfigError(f"{self.prog}: {message}")


def _set_pair(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="i2i", description="Image-to-image translation as plugins.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("recipes", help="list recipes, or show one recipe's plugins and settings")
    p.add_argument("name", nargs="?")

    sub.add_parser("plugins", help="list loss plugins and the distribution of each")

    t = sub.add_parser("train", help="train a recipe")
    t.add_argument("recipe")
    t.add_argument("--data", required=True, help="a data folder, or demo / demo:shapes / demo:shapes-styles")
    t.add_argument("--out", required=True, type=Path)
    t.add_argument("--steps", type=int)
    t.add_argument("--epochs", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--image-size", type=int)
    t.add_argument("--preset")
    t.add_argument("--device")
    t.add_argument("--seed", type=int, help="default 0")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--direction", choices=["AtoB", "BtoA"], help="default AtoB")
    t.add_argument("--log-every", type=int, help="default 50")
    t.add_argument("--save-every", type=int)
    t.add_argument("--sample-every", type=int)
    t.add_argument("--keep", type=int, help="default 0")
    t.add_argument("--workers", type=int)
    t.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                   help="auto: bf16 autocast on CUDA (fp32 master weights), fp32 on CPU; fp32: the plain path")
    t.add_argument("--compile", choices=["auto", "on", "off"], default="auto",
                   help="torch.compile the networks (auto: on CUDA only)")
    t.add_argument("--eval-every", type=int, metavar="N",
                   help="demo data: oracle mIoU every N steps into metrics.jsonl (default 100 on demo data)")
    t.add_argument("--log", action="append", default=[], metavar="NAME",
                   help="also send the logged values and sample grids to this logger: tensorboard, or one a "
                        "plugin registers (repeatable)")
    t.add_argument("--set", dest="sets", action="append", default=[], type=_set_pair, metavar="KEY=VALUE")
    t.add_argument("--add", dest="adds", action="append", default=[], metavar="PLUGIN[:KEY=VALUE,...]")

    tr = sub.add_parser("translate", help="translate an image or a folder with a trained model")
    source = tr.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", type=Path, help="a run folder or a checkpoint file")
    source.add_argument("--weights", type=Path, help="a released reference generator state dict (.pth)")
    tr.add_argument("--input", required=True, type=Path)
    tr.add_argument("--out", required=True, type=Path)
    tr.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    tr.add_argument("--device")
    tr.add_argument("--samples", type=int, metavar="K", help="multimodal runs: K outputs per input, OUT/<stem>_<k>.png")
    tr.add_argument("--style", type=Path, metavar="FILE", help="take the style (latent code) of this image")
    tr.add_argument("--seed", type=int, default=0, help="seeds the latent codes of --samples")
    tr.add_argument("--tile", type=_tile_size, metavar="N",
                    help="translate images larger than N pixels a side in overlapping N×N tiles, equal to the "
                         "whole-image result (default 512: the paper CycleGAN generator stays under 3 GiB on CPU "
                         "up to 4096×4096; 0: always whole)")

    x = sub.add_parser("export", help="write one direction of a run as a TorchScript or ONNX file that runs without i2i")
    x.add_argument("--checkpoint", required=True, type=Path, help="a run folder or a checkpoint file")
    x.add_argument("--direction", choices=["AtoB", "BtoA"], default="AtoB")
    x.add_argument("--format", required=True, choices=["torchscript", "onnx"], help="onnx needs the export extra")
    x.add_argument("--out", required=True, type=Path, help="the file to write")
    x.add_argument("--force", action="store_true", help="replace --out if it exists")

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

    return parser


def cmd_recipes(args) -> int:
    from .recipe import BuildOptions

    table = registry.recipes()
    if args.name is None:
        for name in sorted(table):
            print(f"{name}  {table[name].summary}")
        return 0
    recipe = registry.get_recipe(args.name)(BuildOptions())
    print(f"{recipe.name}  {table[args.name].summary}")
    print("plugins:")
    for instance, plugin in recipe.plugins.items():
        roles = ", ".join(f"{role}→{plugin.phase_of(role)}" for role in plugin.roles)
        print(f"  {instance}  ({plugin.name}; weight {plugin.weight:g}; {roles})")
    judged = dict.fromkeys(j.key for j in recipe.judgements())  # how r1 and other penalties on D call each
    if judged:
        print("discriminators: " + ", ".join(f"{d} on {real}" + (f" beside {c}" if c else "") for d, real, c in judged))
    print("presets: paper (default), " + ", ".join(recipe.presets))
    print(f"image sizes (--image-size): {recipe.image_sizes}")
    print("settings (--set KEY=VALUE), with their defaults:")
    for key, value in recipe.resolved().items():
        print(f"  {key} = {json.dumps(value)}")
    return 0


def cmd_plugins(args) -> int:
    owners = registry.loss_distributions()
    for name in sorted(registry.losses()):
        print(f"{name}  {owners[name]}")
    return 0


def cmd_train(args) -> int:
    from .data import detect_channels
    from .recipe import BuildOptions, build_recipe
    from .resume import load_for_resume, schedule_note
    from .training import Trainer

    demo = args.data == "demo" or args.data.startswith("demo:")
    defaults = DEMO_DEFAULTS if demo else PAPER_DEFAULTS
    if args.resume:
        config, recipe, run = load_for_resume(args)
        build, adds = config.build, config.adds
    else:
        if (args.out / "checkpoints" / "latest.pt").exists():
            raise ConfigError(f"{args.out} already holds a run; pass --resume to continue it or choose another --out")
        size = args.image_size or defaults["image_size"]
        described = registry.get_recipe(args.recipe)(BuildOptions())
        described.image_sizes.check(size, args.recipe)
        paired = described.data.paired
        notes = []
        direction = args.direction or "AtoB"
        in_ch, out_ch = (3, 3) if demo else detect_channels(args.data, direction, paired, notes)
        for note in notes:
            print(f"i2i: {note}")
        build = BuildOptions(image_size=size, in_channels=in_ch, out_channels=out_ch,
                             preset=args.preset or defaults["preset"])
        sets = dict(args.sets)
        if args.batch_size is not None:  # an explicit batch wins over the preset's and the demo default
            sets["data.batch_size"] = args.batch_size
        recipe = build_recipe(args.recipe, build, sets=sets, adds=args.adds, defaults=defaults["settings"])
        adds = args.adds
        run = {"data": args.data, "seed": args.seed or 0, "direction": direction, "epochs": args.epochs,
               "steps": None, **{key: defaults[key] for key in ("save_every", "sample_every", "eval_every")}}
    try:
        options = _train_options(args, run)
    except (TypeError, ValueError) as exc:  # attrs names the field: 'log_every' must be >= 1: 0
        raise ConfigError(f"invalid option: {message(exc)}") from None
    _check_run_folder(args.out)
    trainer = Trainer(recipe, options, build, adds=adds, resume=args.resume)
    note = schedule_note(recipe, config.train.get("steps"), trainer.total_steps, trainer.step) if args.resume else None
    if note and trainer.world.main:
        print(note)
    trainer.fit()
    distributed.shutdown(trainer.world)
    if not trainer.world.main:  # under torchrun, rank 0 reports for all
        return 0
    print(f"done: {trainer.step} steps; samples in {args.out / 'samples'}, checkpoint {trainer.last_checkpoint}")
    if trainer.options.data.startswith("demo"):
        print(_oracle_line(trainer, args.out))
    return 0


def _check_run_folder(out: Path) -> None:
    """Refuse an --out that cannot become a run folder before anything is built or written."""
    existing = next(folder for folder in (out, *out.parents) if folder.exists())  # "." or "/" at worst
    if not existing.is_dir():
        raise ConfigError(f"--out {out}: {existing} is a file; a run goes into a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {existing} is not writable")


def _train_options(args, run: dict):
    """What the run recorded (or the defaults of a fresh one), with this command's options on top."""
    from .training import TrainOptions

    def given(value, recorded):  # 0 is given, and refused by the option's validator
        return recorded if value is None else value

    return TrainOptions(data=run["data"], out=args.out, steps=given(args.steps, run["steps"]), epochs=run.get("epochs"),
                        device=args.device, seed=run["seed"], direction=run["direction"],
                        log_every=given(args.log_every, run.get("log_every", 50)),
                        save_every=given(args.save_every, run["save_every"]),
                        sample_every=given(args.sample_every, run["sample_every"]),
                        keep=given(args.keep, run.get("keep", 0)), workers=args.workers, precision=args.precision,
                        compile=args.compile, eval_every=given(args.eval_every, run.get("eval_every")), log=args.log)


def _oracle_line(trainer, out: Path) -> str:
    scores = trainer.oracle_scores()
    per_class = ", ".join(f"{name} {iou:.2f}" for name, iou in scores["per_class_iou"].items())
    return (f"oracle mIoU {scores['miou']:.3f} on the {trainer.options.data} test split ({per_class}; "
            f"MAE {scores['oracle_mae']:.3f}); curves: {out / 'plots' / 'losses.png'}; "
            f"full report: i2i eval --checkpoint {out}")


def _tile_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of pixels (0 = no tiling), got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (no tiling) or a positive number of pixels, got {value}")
    return value


def cmd_translate(args) -> int:
    from .translate import translate_paths

    if args.samples is not None and args.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {args.samples}")
    written = translate_paths(checkpoint=args.checkpoint, weights=args.weights, source=args.input, out=args.out,
                              direction=args.direction, device=args.device, samples=args.samples,
                              style=args.style, seed=args.seed, tile=args.tile)
    print(f"wrote {len(written)} image(s) to {args.out}")
    return 0


def cmd_export(args) -> int:
    from .export import export_run, summary

    meta = export_run(args.checkpoint, args.format, args.out, direction=args.direction, force=args.force)
    print(summary(meta, args.out, args.format))
    return 0


def _eval_options(args):
    from .evaluation import EvalOptions

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip()) if args.metrics else ()
    return EvalOptions(suites=tuple(args.suites), metrics=metrics, features=args.features, seed=args.seed,
                       kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, ndb_bins=args.ndb_bins,
                       fid_resize=args.fid_resize, inception=args.inception, lpips_net=args.lpips_net,
                       lpips_version=args.lpips_version, lpips_backbone=args.lpips_backbone,
                       lpips_lin=args.lpips_lin, device=args.device)


def cmd_eval(args) -> int:
    from .evaluation import evaluate_checkpoint, evaluate_folders, format_table, timestamp, write_report

    options = _eval_options(args)
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


COMMANDS = {"recipes": cmd_recipes, "plugins": cmd_plugins, "train": cmd_train, "translate": cmd_translate,
            "eval": cmd_eval, "export": cmd_export}


def main(argv=None) -> int:
    from .data import DataError

    try:
        args = build_parser().parse_args(argv)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:  # `i2i recipes NAME | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except (I2IError, DataError) as exc:
        return _fail(exc, 2)
    except OSError as exc:
        if exc.errno not in UNWRITABLE:
            raise
        return _fail(f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror, 2)
    except NonFiniteLoss as exc:
        return _fail(exc, 3)
    except Interrupted as exc:
        print(f"i2i: {exc}", file=sys.stderr)
        return 128 + exc.signum


# A full disk or a folder i2i may not write: the user's to fix, so one line, not a traceback.
UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _fail(exc, status: int) -> int:
    if os.environ.get("I2I_DEBUG"):
        traceback.print_exc()
    print(f"i2i: error: {exc}", file=sys.stderr)
    return status
