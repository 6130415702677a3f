"""Meta-tests: a registered plugin without a docstring equation, a property test of its own, or a
mention in the docs fails here; so does a hook with no documentation or no test."""
import ast
import inspect
import re
import sys
from pathlib import Path

import pytest

from i2i_core import hooks
from i2i_core import plugins as registry

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
BUILTIN_LOSSES = sorted(n for n, d in registry.loss_distributions().items() if d == "i2i")


def property_tests() -> dict[str, bool]:
    """Test function name → whether it is a hypothesis property test (decorated with ``given``)."""
    found = {}
    for path in TESTS.rglob("test_*.py"):  # every area folder: core/, plugins/, recipes/, ...
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                decorators = [ast.unparse(d) for d in node.decorator_list]
                found[node.name] = any(d.startswith("given") for d in decorators)
    return found


@pytest.mark.parametrize("name", BUILTIN_LOSSES)
def test_plugin_documents_its_equation(name):
    cls = registry.get_loss(name)
    text = (sys.modules[cls.__module__].__doc__ or "") + (cls.__doc__ or "")
    assert re.search(r"^\s*\S.*=.*$", text, re.M), f"plugin {name!r}: its module docstring shows no equation"


@pytest.mark.parametrize("name", BUILTIN_LOSSES)
def test_plugin_has_a_property_test_of_its_own(name):
    tests = property_tests()
    own = [t for t, is_property in tests.items() if t.startswith(f"test_{name}_property") and is_property]
    assert own, f"plugin {name!r} needs a hypothesis test named test_{name}_property_* under tests/"


@pytest.mark.parametrize("name", BUILTIN_LOSSES + sorted(registry.recipes()))
def test_docs_mention_every_plugin_and_recipe(name):
    readme = (ROOT / "README.md").read_text()
    assert f"`{name}`" in readme, f"README.md does not mention `{name}`"


@pytest.mark.parametrize("name", [n for n in dir(hooks) if n.startswith("i2i_")])
def test_every_hook_is_documented_and_tested(name):
    assert inspect.getdoc(getattr(hooks, name)), f"hook {name} has no docstring"
    uses = [p for p in TESTS.rglob("test_*.py") if p.name != "test_meta.py" and name in p.read_text()]
    assert uses, f"hook {name} is used by no test"
