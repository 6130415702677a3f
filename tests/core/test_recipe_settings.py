"""Recipes and their settings: build-time errors that list the valid names, the settings tree,
presets, --add specs, value coercion, switching a plugin off; the schedule and the image pool."""
import pytest
import torch

from i2i_core.errors import ConfigError, PluginError
from i2i_core.pool import ImagePool
from i2i_core.recipe import BuildOptions, Schedule, buildable_size, build_recipe, settings_agree
from i2i_core.settings import coerce, parse_add


def test_plugin_reading_an_unknown_product_fails_at_build_time():
    with pytest.raises(PluginError, match="plugin 'cycle' reads 'rec_A'.*pix2pix"):
        build_recipe("pix2pix", BuildOptions(image_size=32), adds=["cycle"])


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(PluginError, match="unknown recipe 'nope'; valid: .*cyclegan"):
        build_recipe("nope")
    with pytest.raises(PluginError, match="unknown loss plugin 'nope'; valid: .*cycle"):
        build_recipe("cyclegan", adds=["nope"])
    with pytest.raises(ConfigError, match="unknown setting 'cycle.wieght'.*cycle.weight"):
        build_recipe("cyclegan", sets={"cycle.wieght": "3"})
    with pytest.raises(ConfigError, match="expects a number"):
        build_recipe("cyclegan", sets={"cycle.weight": "heavy"})
    with pytest.raises(ConfigError, match="cycle.weight"):
        build_recipe("cyclegan", sets={"cycle.weight": "-1"})


def test_a_recipes_checks_run_after_its_preset_and_sets():
    recipe = build_recipe("cyclegan")
    recipe.checks.append(settings_agree("nets.G_AB.ngf", "nets.G_BA.ngf", why="a test"))
    recipe.validate()  # both 64
    recipe.set("nets.G_BA.ngf", 32)
    with pytest.raises(ConfigError, match="recipe 'cyclegan': nets.G_AB.ngf=64, nets.G_BA.ngf=32 differ; a test"):
        recipe.validate()
    # a preset that sets both, and --set that sets both, pass
    build_recipe("bicyclegan", BuildOptions(preset="tiny"))
    build_recipe("bicyclegan", BuildOptions(preset="tiny"), sets={"nets.G.nz": 3, "nets.E.nz": 3})
    with pytest.raises(ConfigError, match="nets.G.nz=3, nets.E.nz=2"):
        build_recipe("bicyclegan", BuildOptions(preset="tiny"), sets={"nets.G.nz": 3})
    # sizes no network takes are left to the network's own error, which names the real fault
    assert [buildable_size(x) for x in (None, 0, -3, float("nan"), 2, 0.5, "instance", True)] == [False] * 4 + [True] * 4
    for bad in (0, -1):
        build_recipe("bicyclegan", BuildOptions(preset="tiny"), sets={"nets.G.nz": bad})
    recipe.checks.append(settings_agree("nets.G_AB.ngf", "nets.G_AB.nggf", why="a typo"))
    recipe.set("nets.G_BA.ngf", 64)
    with pytest.raises(ConfigError, match="recipe 'cyclegan' checks setting 'nets.G_AB.nggf', which it does not have"):
        recipe.validate()
    with pytest.raises(ValueError, match="two or more"):
        settings_agree("nets.G_AB.ngf", why="alone")


def test_settings_address_every_part_of_the_tree():
    r = build_recipe("cyclegan", BuildOptions(image_size=32), sets={
        "cycle.weight": "3", "nets.G_AB.ngf": "8", "optim.lr": "1e-3", "optim.D.lr_mult": "0.5",
        "data.batch_size": "4", "schedule.decay_start": "0.25", "state.pool_A.size": "0",
        "adversarial.mode": "hinge", "phase.G.every": "2"})
    s = r.settings()
    assert s["cycle.weight"] == 3.0 and s["nets.G_AB.ngf"] == 8 and s["optim.lr"] == 1e-3
    assert s["optim.D.lr_mult"] == 0.5 and s["data.batch_size"] == 4 and s["state.pool_A.size"] == 0
    assert r.plugins["adversarial"].mode == "hinge" and r.phase("G").every == 2
    assert isinstance(r.nets["G_AB"].build(), torch.nn.Module)


def test_presets_are_bundles_of_settings():
    paper = build_recipe("cyclegan", BuildOptions(image_size=32)).settings()
    tiny = build_recipe("cyclegan", BuildOptions(image_size=32, preset="tiny")).settings()
    assert paper["nets.G_AB.ngf"] == 64 and tiny["nets.G_AB.ngf"] < 64
    with pytest.raises(ConfigError, match="unknown preset 'huge'.*paper.*tiny"):
        build_recipe("cyclegan", BuildOptions(preset="huge"))


def test_an_added_plugin_starts_from_its_own_preset_and_explicit_settings_win():
    def patchnce(preset, adds="patchnce", sets=None):
        return build_recipe("cyclegan", BuildOptions(image_size=32, preset=preset), adds=[adds], sets=sets).plugins["patchnce"]
    assert (patchnce("paper").num_patches, patchnce("paper").head_width) == (256, 256)
    assert (patchnce("tiny").num_patches, patchnce("tiny").head_width) == (64, 64)
    assert patchnce("tiny", "patchnce:num_patches=32").num_patches == 32
    assert patchnce("tiny", sets={"patchnce.head_width": "16"}).head_width == 16


def test_add_parses_plugin_options_and_names_instances():
    assert parse_add("cycle:weight=2,pairs=[[\"a\",\"b\"]]") == ("cycle", {"weight": "2", "pairs": '[["a","b"]]'})
    r = build_recipe("cyclegan", BuildOptions(image_size=32), adds=["cycle:weight=2"])
    assert r.plugins["cycle_2"].weight == 2.0 and r.plugins["cycle"].weight == 10.0
    with pytest.raises(ConfigError, match="no setting 'wait'"):
        build_recipe("cyclegan", adds=["cycle:wait=2"])


def test_coerce_follows_the_current_type():
    assert coerce("3", 1.0) == 3.0 and isinstance(coerce("3", 1.0), float)
    assert coerce("true", False) is True and coerce("[1, 2]", (0.5, 0.9)) == (1, 2)
    assert coerce("instance", "batch") == "instance" and coerce("null", None) is None
    with pytest.raises(ConfigError):
        coerce("2.5", 1)


def test_zero_weight_switches_a_plugin_off():
    r = build_recipe("cyclegan", BuildOptions(image_size=32), sets={"identity.weight": "0"})
    assert "identity" not in r.active_plugins()


def test_linear_schedule_matches_the_reference_shape():
    s = Schedule(policy="linear", decay_start=0.5)
    assert [s.factor(t, 200) for t in (0, 100, 150, 200)] == [1.0, 1.0, 0.5, 0.0]
    assert Schedule(policy="step", step_size=0.1, gamma=0.5).factor(25, 100) == 0.25


def test_image_pool_follows_the_reference_rule():
    pool = ImagePool(size=3)
    pool.reset(0)
    images = [torch.full((1, 1, 2, 2), float(i)) for i in range(40)]
    out = [pool.query(x) for x in images[:3]]
    assert all(torch.equal(a, b) for a, b in zip(out, images[:3]))  # filling: returned as they come
    outs = torch.cat([pool.query(x) for x in images[3:]]).flatten(1)[:, 0]
    returned_new = (outs == torch.arange(3, 40, dtype=torch.float)).float().mean().item()
    assert 0.25 < returned_new < 0.75  # about half the time the new image, else a stored one
    state = pool.state_dict()
    clone = ImagePool(size=3)
    clone.load_state_dict(state)
    x = torch.full((1, 1, 2, 2), 99.0)
    assert torch.equal(pool.query(x), clone.query(x))
    assert torch.equal(ImagePool(size=0).query(x), x)


def test_a_list_the_shell_stripped_of_its_quotes_is_read_as_bare_words():
    layers = ("input", "down1")
    assert coerce("[down1_conv,res1]", layers, "patchnce.layers") == ("down1_conv", "res1")
    assert coerce("[[fake_B, real_B]]", (("rec_A", "real_A"),), "cycle.pairs") == (["fake_B", "real_B"],)
    assert coerce('["a", b, 2]', layers) == ("a", "b", 2) and coerce("down1", layers) == ("down1",)
    with pytest.raises(ConfigError, match=r'patchnce.layers expects a JSON list such as \["input", "down1"\], '
                                          r"got '\[down1 res1\]'"):
        coerce("[down1 res1]", layers, "patchnce.layers")  # never the one name "[down1 res1]"
    built = build_recipe("cyclegan", BuildOptions(image_size=32), adds=["patchnce:layers=[down1,res1]"],
                         sets={"patchnce.layers": "[input,res2]"})
    assert built.plugins["patchnce"].layers == ("input", "res2")
