"""Local Sphinx extensions of the API reference."""
