"""StableSAM toolkit: theory and experiments for sharpness-aware minimization and its renormalization.

Everything imports under this one root, in layers that import only downwards:

- :mod:`stablesam.core`: base utilities (validation, atomic files, locks, the method table);
- :mod:`stablesam.theory`: closed forms and symbolic derivations (float64 numpy, sympy);
- :mod:`stablesam.stability`: optimizers, data, models and the twin-model harness (torch);
- :mod:`stablesam.analysis`: curvature, experiments, ``verify`` and plots;
- :mod:`stablesam.cli`: the ``stablesam`` command line.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
