"""Core library of the fashion recommendation pipeline.

Everything here is plain Python (polars, numpy, torch, implicit, faiss): no Dagster import,
so the same code runs from a notebook, a script or another application.
"""

__version__ = "0.1.0"
