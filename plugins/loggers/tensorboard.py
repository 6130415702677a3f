"""``--log tensorboard``: the run's logged scalars (the rows of ``metrics.jsonl``) and its sample
grids as TensorBoard events in ``DIR/tensorboard/``; watch with ``tensorboard --logdir DIR``.

Built on the trainer's event hooks alone, as a third-party logger would be. Needs the optional
``tensorboard`` package (``pip install 'i2i[tensorboard]'``).
"""
import numpy as np
from PIL import Image

from i2i_core.errors import ConfigError
from i2i_core.hooks import hookimpl

NOT_SCALARS = ("step", "world_size")


class TensorBoardLogger:
    def __init__(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--log tensorboard needs the tensorboard package: "
                              "pip install 'i2i[tensorboard]'") from None
        self.writer_class, self.writer = SummaryWriter, None

    @hookimpl
    def i2i_train_start(self, trainer):
        # A resumed run logs again the steps after its checkpoint; purge_step hides what a killed
        # run logged of those steps, as metrics.jsonl drops its rows.
        self.writer = self.writer_class(trainer.out / "tensorboard", purge_step=trainer.step + 1 if trainer.step else None,
                                        flush_secs=10)

    @hookimpl
    def i2i_step_end(self, trainer, step, logged):
        for key, value in (logged or {}).items():
            if key not in NOT_SCALARS:
                self.writer.add_scalar(key, value, step)

    @hookimpl
    def i2i_samples_saved(self, trainer, step, path):
        with Image.open(path) as image:
            self.writer.add_image("samples", np.asarray(image.convert("RGB")), step, dataformats="HWC")

    @hookimpl
    def i2i_train_end(self, trainer, status):
        self.writer.close()


LOGGERS = {"tensorboard": TensorBoardLogger}
