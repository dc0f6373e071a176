"""interp.callbacks: Lightning callbacks (contact precision during training, prediction writers).

Installed as `interp.callbacks` (never as a top-level `callbacks` module); the callbacks arrive in a later issue.
"""

__all__: list[str] = []
