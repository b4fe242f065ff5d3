"""Shared test settings. Tests use explicit generators; nothing here seeds global state."""

import matplotlib

matplotlib.use("Agg")
