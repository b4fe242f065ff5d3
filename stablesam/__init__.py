"""StableSAM toolkit: theory and experiments for sharpness-aware minimization and its renormalization.

The toolkit's code lives in three packages: :mod:`theory` (closed forms and symbolic derivations),
:mod:`stability` (optimizers and the twin-model harness) and :mod:`analysis` (curvature, aggregation,
plots). This package holds the command line and the small utilities they share.
"""

__version__ = "0.1.0"
