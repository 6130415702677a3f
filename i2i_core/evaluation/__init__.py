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
from .context import EvalContext, EvalOptions
from .plan import plan, weights_present
from .report import format_table, timestamp, write_report
from .scoring import DEFAULT_SAMPLES, evaluate_checkpoint, evaluate_folders

__all__ = ["DEFAULT_SAMPLES", "EvalContext", "EvalOptions", "evaluate_checkpoint", "evaluate_folders", "format_table",
           "plan", "timestamp", "weights_present", "write_report"]
