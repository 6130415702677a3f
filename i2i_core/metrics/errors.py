"""The one exception a metric raises when the sample is too small for it: reported, not fatal."""
from ..errors import I2IError


class TooFewSamples(I2IError):
    """Too few images for this metric; ``i2i eval`` reports it as skipped, with this message."""
