"""Where local image files are decoded: on threads, or in worker processes for large runs.

Threads alone cannot keep every core busy: Pillow releases the GIL while decoding, but its JPEG
header parser is Python, and so are the checks, the store and the outcome records, a large share
of an image's CPU (benchmarks/design_measurements.md). A worker process runs the
very same ``ImageProcessor`` (reading confined and size-limited by the same LocalFiles, the same
checks, creating the stored file itself) and sends back only the outcomes.

The workers are plain ``python -m recsys.images.decode_worker`` processes, not multiprocessing's:
its 'spawn' and 'forkserver' children re-run the parent's main module first (a second per worker
under ``dagster job execute`` or this repo's benchmark), and 'fork' is unsafe in a process that
holds threads (the fetch pool, Dagster's) or torch. Starting one is not free, so small runs (the
tests' lakes, an incremental update) stay on threads. Each decoding thread
drives one worker; a worker that dies (a crash in a decoder, the OOM killer) fails only its
batch, as ``error`` (retried by a later run), and the next batch gets a new worker.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from recsys.images.processing import Done, ImageProcessor, Job

# Batches handed to a decoder: per-batch overhead (a pickle round trip for processes) stays small
# next to decoding the batch's images, and progress still moves often.
LOCAL_BATCH = 64


class WorkerDied(Exception):
    pass


class WorkerProcess:
    def __init__(self) -> None:
        # The parent's import path, as multiprocessing passes it: the worker must find the same
        # modules (a checkout that is not installed, a test's helper classes).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen([sys.executable, "-m", "recsys.images.decode_worker"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.cpu_seconds = 0.0

    def start(self, processor: ImageProcessor) -> None:
        self._send(processor)

    def run(self, jobs: list[Job]) -> list[Done]:
        self._send(jobs)
        try:
            done, self.cpu_seconds = pickle.load(self.process.stdout)
        except (EOFError, pickle.UnpicklingError) as exc:
            raise self._died() from exc
        return done

    def _send(self, message: object) -> None:
        try:
            pickle.dump(message, self.process.stdin, pickle.HIGHEST_PROTOCOL)
            self.process.stdin.flush()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise self._died() from exc

    def _died(self) -> WorkerDied:
        self.process.kill()
        return WorkerDied(f"decode worker process {self.process.pid} died (exit code {self.process.wait()})")

    def end_input(self, kill: bool) -> None:
        if kill:
            self.process.kill()
        try:
            self.process.stdin.close()  # end of input: a live worker returns
        except BrokenPipeError:  # it died with a request still buffered
            pass

    def wait(self) -> None:
        self.process.wait()
        self.process.stdout.close()


class LocalDecoders:
    """Decodes local jobs in batches as they are added, while the caller goes on planning; a
    context manager (leaving it stops every worker process).

    ``workers`` threads decode in-process until ``processes_from`` jobs have been added; from then
    on (and the jobs still waiting included) each thread drives its own worker process, so a run
    is decoded on one kind of decoder only, and the workers start while the rest is planned.
    """

    def __init__(self, processor: ImageProcessor, workers: int, processes_from: int):
        self.processor = processor
        self.in_processes = False
        self.added = 0
        self.futures: list[Future[list[Done]]] = []
        self._may_use_processes = workers > 1
        self._processes_from = processes_from
        self._waiting: list[Job] = []       # added, not yet handed to a decoder
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="image-decode")
        self._own = threading.local()         # the worker process of the calling thread
        self._workers: list[WorkerProcess] = []

    def __enter__(self) -> LocalDecoders:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._threads.shutdown(wait=True, cancel_futures=exc_type is not None)
        # Every worker is told first, then waited for: they exit (interpreter teardown) side by side.
        for worker in self._workers:
            worker.end_input(kill=exc_type is not None)
        for worker in self._workers:
            worker.wait()

    def add(self, job: Job) -> None:
        self._waiting.append(job)
        self.added += 1
        if not self.in_processes and self._may_use_processes and self.added >= self._processes_from:
            self.in_processes = True
        if self.in_processes:
            while len(self._waiting) >= LOCAL_BATCH:
                self._submit()

    def close(self) -> None:
        """No more jobs: hand over the last ones (on threads, if there were too few for processes)."""
        while self._waiting:
            self._submit()

    def _submit(self) -> None:
        batch, self._waiting = self._waiting[:LOCAL_BATCH], self._waiting[LOCAL_BATCH:]
        decode = self._in_worker if self.in_processes else self.processor.local_batch
        self.futures.append(self._threads.submit(decode, batch))

    def _in_worker(self, jobs: list[Job]) -> list[Done]:
        worker = getattr(self._own, "worker", None)
        try:
            if worker is None:
                worker = self._own.worker = WorkerProcess()
                self._workers.append(worker)
                worker.start(self.processor)
            return worker.run(jobs)
        except WorkerDied as died:
            self._own.worker = None
            return [self.processor.failed(job, died, local=True) for job in jobs]

    @property
    def worker_cpu_seconds(self) -> float:
        """CPU seconds the worker processes used (start-up included); 0 on threads, whose CPU is
        this process's own."""
        return sum(worker.cpu_seconds for worker in self._workers)
