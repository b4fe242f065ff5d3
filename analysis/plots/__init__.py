"""Drawing only: figure functions ``plot_*(...) -> Figure`` and the one visual language (:mod:`.style`)."""
