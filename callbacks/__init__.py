"""interp.callbacks: Lightning callbacks (contact precision while a model trains, contact-map images,
the prediction writer for distributed extraction) and the `Trainer.predict` extraction beside them
(`interp.callbacks.extraction`: `ExplainerModule`, `FastaDataModule`).

Installed as `interp.callbacks` (never as a top-level `callbacks` module). Callbacks are named by role, as
Lightning's are (`LearningRateMonitor`): `ContactPrecisionMonitor` watches the torchmetrics
`interp.ContactPrecision` during training.
"""

import warnings
from typing import Any

from interp.callbacks.contact_map_logger import ContactMapLogger
from interp.callbacks.contact_precision import ContactPrecisionMonitor
from interp.callbacks.contact_writer import ContactWriter, read_failures, read_index

__all__ = ["ContactMapLogger", "ContactPrecisionMonitor", "ContactWriter", "read_failures", "read_index"]


def __getattr__(name: str) -> Any:
    if name == "ContactPrecision":  # the callback's old name, which collided with the metric interp.ContactPrecision
        warnings.warn(
            "interp.callbacks.ContactPrecision is now ContactPrecisionMonitor (interp.ContactPrecision is the metric)",
            DeprecationWarning,
            stacklevel=2,
        )
        return ContactPrecisionMonitor
    raise AttributeError(f"module 'interp.callbacks' has no attribute {name!r}")
