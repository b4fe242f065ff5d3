"""The figure set of ``figures/``: each figure as data (:mod:`.spec`), the catalogue and the deterministic writer."""
