"""The plugin registry: built-ins registered through the entry-point group, autoload switched off,
documented hook specifications, separate recipe and loss namespaces."""
import os
import subprocess
import sys

import pytest

from i2i_core import plugins as registry
from i2i_core.errors import PluginError
from i2i_plugins.cycle import Cycle


def test_builtins_register_through_the_entry_point_group():
    from importlib import metadata

    eps = [ep for dist in metadata.distributions() if dist.metadata["Name"] == "i2i"
           for ep in dist.entry_points if ep.group == "i2i"]
    assert any(ep.value == "i2i_plugins.builtin" for ep in eps)
    assert set(registry.loss_distributions().values()) >= {"i2i"}
    assert {"adversarial", "cycle", "identity", "paired_l1"} <= set(registry.losses())
    assert {"cyclegan", "pix2pix"} <= set(registry.recipes())


def test_disable_autoload_keeps_builtins():
    code = "from i2i_core import plugins; print(sorted(plugins.losses()))"
    env = {**os.environ, "I2I_DISABLE_PLUGIN_AUTOLOAD": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert "'cycle'" in out and "'adversarial'" in out


def test_hook_specs_are_documented_and_named():
    from i2i_core import hooks

    specs = [name for name in dir(hooks) if name.startswith("i2i_")]
    assert {"i2i_losses", "i2i_recipes", "i2i_networks", "i2i_metrics", "i2i_step_end",
            "i2i_checkpoint_saved", "i2i_checkpoint_loaded"} <= set(specs)
    for name in specs:
        assert (getattr(hooks, name).__doc__ or "").strip(), name


def test_recipe_and_plugin_namespaces_are_separate():
    assert registry.get_recipe("cyclegan").name == "cyclegan"
    with pytest.raises(PluginError, match="unknown recipe 'cycle'"):
        registry.get_recipe("cycle")
    assert registry.get_loss("cycle") is Cycle
