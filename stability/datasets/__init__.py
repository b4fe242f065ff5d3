"""The data sources of the twin harness, one per module; the public entry point is :mod:`stablesam.stability.data`."""
