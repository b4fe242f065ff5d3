"""Shared test settings. Tests use explicit generators; nothing here seeds global state."""

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("STABLESAM_QUICK", "1")
