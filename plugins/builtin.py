"""Registers i2i's built-in loss plugins, recipes and networks, through the same hooks a third party uses."""
from i2i_core.hooks import hookimpl


@hookimpl
def i2i_losses():
    from .adversarial import Adversarial
    from .cycle import Cycle
    from .identity import Identity
    from .paired_l1 import PairedL1

    return [Adversarial, Cycle, Identity, PairedL1]


@hookimpl
def i2i_recipes():
    from .recipes.cyclegan import cyclegan
    from .recipes.pix2pix import pix2pix

    return [cyclegan, pix2pix]


@hookimpl
def i2i_networks():
    from i2i_core.nets import PatchGAN, ResnetGenerator, UnetGenerator

    return {"resnet_generator": ResnetGenerator, "patchgan": PatchGAN, "unet": UnetGenerator}
