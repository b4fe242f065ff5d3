"""Each package's public API is an explicit re-export list (as in equinox's ``__init__``), loaded lazily.

Three properties: every name of a package's ``__all__`` resolves to the object its defining module holds; every
public name of a package's modules (their ``__all__``) is re-exported by the package, so the list is complete; and
importing the packages themselves pulls in neither torch nor sympy (the light paths stay light).
"""

import ast
import importlib
import subprocess
import sys

import pytest

from tests._package_tree import PACKAGES, module_files

MODULES = module_files()
# The command line's public interface is the command line (its reference is generated from the parser); the
# subcommand modules are its implementation, not an importable API.
COMMAND_LINE = "stablesam.cli"


def _declared_all(name):
    for node in ast.parse(MODULES[name].read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(target, "id", None) == "__all__" for target in node.targets):
            return ast.literal_eval(node.value)
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "__all__" and node.value is not None:
            return ast.literal_eval(node.value)  # ``__all__: list[str] = []`` (the claim files)
    return None


def _public_children(package):
    return [
        name
        for name in sorted(MODULES)
        if name.rpartition(".")[0] == package
        and name not in PACKAGES
        and not name.rpartition(".")[2].startswith("_")
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    assert isinstance(module.__all__, list) and module.__all__, package
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
        assert name in dir(module), name


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != COMMAND_LINE])
def test_the_package_reexports_every_public_name_of_its_modules(package):
    exported = set(importlib.import_module(package).__all__)
    missing = {}
    for child in _public_children(package):
        declared = _declared_all(child)
        assert declared is not None, f"{child} has no literal __all__"
        # A module's name that is also a sibling submodule's stays qualified: importing the submodule binds it.
        missing.update({name: child for name in declared if name not in exported and f"{package}.{name}" not in MODULES})
    assert not missing, f"{package}.__all__ lacks {missing}"


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != COMMAND_LINE])
def test_each_reexport_is_its_modules_object(package):
    module = importlib.import_module(package)
    for child in _public_children(package):
        child_module = importlib.import_module(child)
        for name in _declared_all(child):
            if f"{package}.{name}" in MODULES and name not in module.__all__:
                continue
            same = getattr(module, name) is getattr(child_module, name)
            # A name two modules define differently (theory's ``step``, ``METHODS``) is exported once, from
            # the module the package's table names; the other stays qualified.
            assert same or name in _defined_differently(package, name), f"{package}.{name} is not {child}.{name}"


def _defined_differently(package, name):
    owners = [child for child in _public_children(package) if name in (_declared_all(child) or ())]
    objects = {id(getattr(importlib.import_module(child), name)) for child in owners}
    return {name} if len(objects) > 1 else set()


def test_importing_the_packages_pulls_in_neither_torch_nor_sympy():
    code = (
        "import sys\n"
        f"for name in {[p for p in PACKAGES if p != COMMAND_LINE]!r}: __import__(name)\n"
        "print(sorted(m for m in ('torch', 'sympy') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_name_shared_with_its_module_is_the_function_even_after_the_module_is_imported():
    code = (
        "import stablesam.theory.simulate, stablesam.theory.quadratic_divergence\n"
        "from stablesam.theory import simulate\n"
        "print(callable(simulate), type(simulate).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "function"]


def test_an_unknown_name_is_an_attribute_error():
    import stablesam.analysis.plots as plots

    with pytest.raises(AttributeError, match="has no attribute 'plot_nothing'"):
        plots.plot_nothing  # noqa: B018
