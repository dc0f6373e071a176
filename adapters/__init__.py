"""interp.adapters: how each model family tokenizes, which tokens form its alphabet, how it runs.

The adapter contract and registry arrive with the explainers; this package is installed as
`interp.adapters` (never as a top-level `adapters` module).
"""

__all__: list[str] = []
