"""interp.callbacks: Lightning callbacks (contact precision while a model trains, contact-map images,
the prediction writer for distributed extraction).

Installed as `interp.callbacks` (never as a top-level `callbacks` module).
"""

from interp.callbacks.contact_map_logger import ContactMapLogger
from interp.callbacks.contact_precision import ContactPrecision
from interp.callbacks.contact_writer import ContactWriter, read_failures, read_index

__all__ = ["ContactMapLogger", "ContactPrecision", "ContactWriter", "read_failures", "read_index"]
