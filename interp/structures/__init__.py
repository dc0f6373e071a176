"""Structures, beside the flow: true contact maps from PDB/mmCIF files (`structure`) and the panels of
structures the callback and the benchmarks score on (`panel`)."""
