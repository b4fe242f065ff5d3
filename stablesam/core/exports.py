"""Lazy re-exports for a package's ``__init__`` (PEP 562): the public names are an explicit table, loaded on use.

A package lists each public name with the module that defines it; ``__all__`` is that table's keys, so the list
stays explicit (as in equinox's ``__init__``) while ``import stablesam.analysis.plots`` costs nothing until a name
is used, and a light path (``stablesam --help``, reading a config) never pulls torch or sympy in.

>>> import types
>>> package = types.ModuleType("demo")
>>> package.__getattr__, package.__dir__ = lazy_exports("demo", {"sqrt": "math"}, vars(package))
>>> package.sqrt(4.0)
2.0
>>> "sqrt" in vars(package)  # cached after the first use
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose public names load on first use.

    Args:
        package: the package's dotted name (``__name__``).
        exports: public name -> dotted name of the module that defines it.
        namespace: the package's ``globals()``; a loaded name is stored there, so later look-ups skip the hook.

    A name that is not in ``exports`` but is a submodule of the package imports that submodule, as an eager
    ``__init__`` that imported it would have provided it.
    """

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):  # dunder probes (copy, pickle, doctest) are never exports or submodules
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if name in exports:
            value = getattr(importlib.import_module(exports[name]), name)
        else:
            try:
                value = importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
