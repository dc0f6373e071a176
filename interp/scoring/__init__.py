"""Scoring a map: contact precision per range and k, as functions and a torchmetrics Metric (`metrics`), and
the one resolution of true contacts from a map, a structure or a `ContactMap` (`truth`)."""
