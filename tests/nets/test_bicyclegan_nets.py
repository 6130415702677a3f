"""BicycleGAN's networks (Zhu et al. 2017; the BicycleGAN reference code, models/networks.py):
parameter counts at 256, sizes that follow the image, the encoder's global pooling."""
import numpy as np
import pytest
import torch

from helpers import n_params
from i2i_core.nets.bicyclegan import MultiScaleDiscriminator, ResnetEncoder, UnetLevelWithZ, UnetWithZ, upsampling_conv


def test_reference_parameter_counts_at_256():
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        unet = UnetWithZ()
        assert n_params(unet) == 54_794_627
        # every level takes the code: down-convs see C + 8 channels, from the outside in
        downs = [m.down.image.in_channels + m.down.code.in_channels if m.outermost else m.down.in_channels
                 for m in unet.modules() if isinstance(m, UnetLevelWithZ)]
        assert downs == [11, 72, 136, 264, 520, 520, 520, 520]
        assert n_params(UnetWithZ(where_add="input")) == 54_417_795
        assert n_params(ResnetEncoder()) == 2_590_032
        assert n_params(MultiScaleDiscriminator()) == 3_458_978


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_networks_adapt_to_the_image_size(size):
    x, z = torch.rand(2, 3, size, size) * 2 - 1, torch.randn(2, 8)
    depth = int(np.log2(size))
    for where, upsample in (("all", "basic"), ("input", "basic"), ("all", "bilinear")):
        unet = UnetWithZ(num_downs=depth, ngf=4, where_add=where, upsample=upsample)
        y = unet(x, z)
        assert y.shape == x.shape and y.abs().max() <= 1 and not torch.equal(y, unet(x, torch.randn(2, 8)))
    encoder = ResnetEncoder(nef=4)
    # the last map is size/32 on a side: the reference's AvgPool2d(8) at 256 is a global average there
    assert encoder.conv[:-1](x).shape[-2:] == (size // 32, size // 32)
    mu, logvar = encoder(x)
    assert mu.shape == logvar.shape == (2, 8)
    maps = MultiScaleDiscriminator(ndf=4, image_size=size)(x)
    assert isinstance(maps, list) and len(maps) == 2 and all(m.shape[:2] == (2, 1) for m in maps)
    if size == 256:
        assert [m.shape[-1] for m in maps] == [30, 14]


def test_encoder_pools_the_last_map_globally():
    encoder = ResnetEncoder(nef=4).eval()
    x = torch.rand(1, 3, 64, 64)
    last = encoder.conv[:-1](x)
    assert torch.allclose(encoder(x)[0], encoder.fc(torch.nn.functional.avg_pool2d(last, 2).flatten(1)), atol=1e-6)


def test_bilinear_upsampling_paints_no_checkerboard():
    """The transposed conv 4×4/2 turns a flat map into a 2-pixel pattern (the checkerboard that mode
    seeking learned to buy on the demo); the reference's ``--upsample bilinear`` keeps it flat."""
    torch.manual_seed(0)
    flat = torch.ones(1, 4, 6, 6)
    for mode, periodic in (("basic", True), ("bilinear", False)):
        up = torch.nn.Sequential(*upsampling_conv(mode, 4, 4))
        y = up(flat)[..., 1:-1, 1:-1]  # away from the border
        assert y.shape[-1] == 10
        assert (y.amax((2, 3)) - y.amin((2, 3)) > 1e-3).any() == periodic, mode
    with pytest.raises(ValueError, match="upsample must be one of basic, bilinear, got 'nearest'"):
        UnetWithZ(num_downs=5, ngf=4, upsample="nearest")
