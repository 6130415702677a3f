"""Built-in run loggers for ``i2i train --log NAME``: each module's ``LOGGERS`` maps names to classes."""
