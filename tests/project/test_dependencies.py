"""Every required dependency is imported by the package: a dependency nothing uses is a cost to every user
(issue 26: seaborn was required and imported nowhere)."""

import ast
import re
import tomllib
from importlib.metadata import packages_distributions

from tests._package_tree import ROOT, module_files


def _imported_top_level_names():
    names = set()
    for path in module_files().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.partition(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.partition(".")[0])
    return names


def test_every_required_dependency_is_imported():
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    distributions = {re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0].lower() for spec in required}
    provided = packages_distributions()
    used = {dist.lower() for name in _imported_top_level_names() for dist in provided.get(name, ())}
    assert distributions - used == set(), f"required but imported nowhere: {sorted(distributions - used)}"
