"""A decode worker process: ``python -m recsys.images.decode_worker`` (started by decode_pool.py).

It reads pickles on stdin: first the run's ``ImageProcessor``, then batches of local jobs; for
each batch it writes back ``(outcomes, CPU seconds used so far)``. End of input ends it. It
imports only what processing needs (Pillow, the checks, the store): no polars, no httpx, and
never the parent's main module.
"""

from __future__ import annotations

import os
import pickle
import sys
import time
from typing import BinaryIO


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    processor = pickle.load(requests)
    while True:
        try:
            jobs = pickle.load(requests)
        except EOFError:
            return
        pickle.dump((processor.local_batch(jobs), time.process_time()), replies, pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    # The replies get their own copy of stdout, and stdout itself points at stderr: a stray print
    # (a library's, a debugging one) must not corrupt the pickles the parent reads.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, replies)
