"""i2i's built-in loss plugins and recipes, registered through the ``i2i`` entry-point group."""
