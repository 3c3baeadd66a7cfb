#!/usr/bin/env bash
# One Celery worker for the steps of build_all (deploy/celery/definitions.py), named "$1@<host>".
# Start one per core on every machine that runs steps, from a checkout (or image) at the same path
# as the code location's, with the same $RECSYS_CELERY_BROKER and $RECSYS_LAKE_DIR (a shared
# filesystem), and access to the Dagster instance's storage (the run sends its instance ref).
#   --pool solo          the step runs in this process (its pid is the worker's), one at a time:
#                        a worker is one slot, as the multiprocess executor's max_concurrent is.
#   --disable-prefetch   a busy worker takes no second step from the queue, so a step waits for
#                        the first free worker instead of queueing behind a long training step.
# exec: the worker is this process, so stopping this pid stops the worker.
set -euo pipefail
: "${RECSYS_CELERY_BROKER:?set RECSYS_CELERY_BROKER to the broker URL, e.g. redis://broker-host:6379/0}"
: "${RECSYS_LAKE_DIR:?set RECSYS_LAKE_DIR to the shared lake folder}"
exec celery --app dagster_celery.app --broker "$RECSYS_CELERY_BROKER" --result-backend "$RECSYS_CELERY_BROKER" \
    worker --queues dagster --hostname "${1:-recsys-$$}@%h" --pool solo --disable-prefetch --loglevel INFO
