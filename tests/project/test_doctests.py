"""Every docstring example of the package runs: the equivalent of ``pytest --doctest-modules`` on the one root.

The modules come from pyproject's package list (:mod:`tests._package_tree`), so ``theory/``, ``stability/`` and
``analysis/``, which setuptools maps under ``stablesam``, are collected by their import names (a plain
``--doctest-modules theory/`` would import them a second time as a bare ``theory``). Nothing is listed by hand: a
new module with examples is picked up without an edit here. Each example is one test, named by its object.
"""

import doctest
import importlib

import pytest

from tests._package_tree import module_files

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


def _examples():
    finder = doctest.DocTestFinder(exclude_empty=True)
    for name in sorted(module_files()):
        if name.endswith(".__main__"):  # running it is the CLI, not an example
            continue
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples:
                yield pytest.param(test, id=test.name)


EXAMPLES = list(_examples())


def test_every_layer_has_examples():
    layers = {param.values[0].name.split(".")[1] for param in EXAMPLES}
    assert {"core", "theory", "stability", "analysis"} <= layers


def test_every_file_with_an_example_is_collected():
    """An example the finder cannot reach (in an object defined elsewhere, or a string that is no docstring) is
    an example that never runs: each module file that holds a ``>>>`` prompt yields at least one test."""
    collected = {param.values[0].name for param in EXAMPLES}
    missed = [
        name
        for name, path in module_files().items()
        if ">>> " in path.read_text() and not any(test == name or test.startswith(name + ".") for test in collected)
    ]
    assert not missed


@pytest.mark.parametrize("test", EXAMPLES)
def test_docstring_example(test):
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    runner.run(test, out=report.append, clear_globs=False)
    assert runner.failures == 0, "".join(report)
