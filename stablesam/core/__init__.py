"""Base utilities below every other package: validation at the boundary, atomic file output and the
one table of methods. Imports nothing from the project (``core -> theory -> stability -> analysis -> CLI``)."""

from stablesam.core.methods import METHODS, Method, method, method_keys
from stablesam.core.validation import UsageError

__all__ = ["METHODS", "Method", "UsageError", "method", "method_keys"]
