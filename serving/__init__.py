"""The serving layer: a FastAPI app over what the pipeline published (never imports Dagster).

``python -m serving`` (``make serve``) serves the lake in ``$RECSYS_LAKE_DIR`` (default
``data_lake``) on http://127.0.0.1:$PORT (default 8000). See the README's Serving section.
"""
