"""interp.callbacks: Lightning callbacks (contact precision while a model trains).

Installed as `interp.callbacks` (never as a top-level `callbacks` module).
"""

from interp.callbacks.contact_precision import ContactPrecision

__all__ = ["ContactPrecision"]
