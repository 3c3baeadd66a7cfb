"""What every build step's process needs before it starts, imported once by the executor's forkserver.

Each step of ``build_all`` runs in a process forked from the forkserver, so whatever the forkserver
imported is already there. Three things are:

- the code location, ``pipelines.definitions`` (torch, FAISS, polars ...: seconds to import);
- matplotlib's pyplot (Agg): seven steps draw a plot for their metadata, four of them on a nightly
  build's critical path (images, image tower, two-tower, similar items);
- the Dagster instance's storage: a step opens the instance (SQLite run, event and schedule storage,
  the compute-log manager), and Dagster imports those modules (SQLAlchemy, alembic, fsspec, hundreds
  of modules) only when an instance is first opened, at the start of every step, on a nightly
  build's critical path. Opening a throwaway local instance here imports them through Dagster's
  public API, whichever storage modules this Dagster version uses.
"""

import dagster as dg
import matplotlib

import pipelines.definitions  # noqa: F401  (imported for its side effect: the forkserver keeps it)

matplotlib.use("Agg")
import matplotlib.pyplot  # noqa: E402, F401  (after choosing the backend; kept for the steps)

with dg.DagsterInstance.local_temp() as _instance:
    _instance.get_runs(limit=1)
    _instance.compute_log_manager  # noqa: B018  (opening it imports its modules)
