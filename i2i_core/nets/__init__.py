"""CycleGAN / pix2pix / CUT networks whose state-dict keys equal the reference implementations'."""
from .blocks import Downsample, Upsample, conv_bias_for, norm_layer
from .init import init_weights
from .patchgan import PatchGAN
from .reference import from_reference_state_dict
from .resnet import ResnetBlock, ResnetGenerator
from .unet import UnetGenerator, UnetSkipBlock, unet_depth_for

__all__ = [
    "Downsample",
    "PatchGAN",
    "ResnetBlock",
    "ResnetGenerator",
    "UnetGenerator",
    "UnetSkipBlock",
    "Upsample",
    "conv_bias_for",
    "from_reference_state_dict",
    "init_weights",
    "norm_layer",
    "unet_depth_for",
]
