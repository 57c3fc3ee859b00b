"""Child processes: a fresh-interpreter worker for calls, and clean pools for parallel work.

HiGHS cannot always be stopped from inside its process (its root cut loop
was seen to run for minutes past its time limit and to ignore
``cancelSolve``), and a forked copy of a process that has run HiGHS can
deadlock in HiGHS's thread pool. Work that must be stoppable or parallel
therefore runs in processes started from a fresh interpreter.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def clean_process_context() -> multiprocessing.context.BaseContext:
    """Worker processes that do not inherit this one's HiGHS threads.

    A forked child of a process that has run HiGHS can deadlock in HiGHS's
    thread pool; a fork server (or, where there is none, spawn) starts
    workers from a fresh interpreter.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


CHILD_GRACE_S = 5.0  # how long past its limit a HiGHS run in a child process may take


class DeadlinePassed(Exception):
    """A child process did not answer by its deadline (and was killed)."""


class ChildWorker:
    """A fresh ``python`` process that runs calls one at a time, in the order sent.

    Calls and results travel as length-prefixed pickles over the child's
    stdin and a copy of its stdout (its own prints go to stderr). The child
    is a new interpreter, not a multiprocessing one, so a caller's script
    needs no ``__main__`` guard and is not re-imported. Results are read
    back in order with :meth:`result`; an exception in the child is raised
    there.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.waiting = 0  # calls sent whose results are not read yet
        # Replies are drained as they come, so a child writing a large result never
        # blocks while this process writes the next call (both pipes full: deadlock).
        self.replies: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read_replies, daemon=True).start()

    def _read_replies(self) -> None:
        """Put each reply from the child on ``replies``; b"" once its output ends."""
        assert self.process.stdout is not None
        stream = self.process.stdout
        while header := stream.read(8):
            self.replies.put(stream.read(int.from_bytes(header, "little")))
        self.replies.put(b"")

    def submit(self, function: Callable[..., object], /, *args: object, **kwargs: object) -> None:
        """Send ``function(*args, **kwargs)`` to the child."""
        message = pickle.dumps((function, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        assert self.process.stdin is not None
        self.process.stdin.write(len(message).to_bytes(8, "little") + message)
        self.process.stdin.flush()
        self.waiting += 1

    def result(self, timeout_s: float | None = None) -> object:
        """The result of the oldest call not yet read (waits for it).

        With ``timeout_s``, a child that has not answered by then is killed
        and :class:`DeadlinePassed` raised: the one sure way to stop a HiGHS
        run that ignores both its time limit and ``cancelSolve``.
        """
        assert self.waiting > 0
        try:
            reply = self.replies.get(timeout=timeout_s)
        except queue.Empty:
            self.process.kill()
            self.process.wait()
            raise DeadlinePassed(f"no answer within {timeout_s:.1f} s") from None
        if not reply:
            self.replies.put(reply)  # every later call sees the death too
            code = self.process.wait()
            raise RuntimeError(f"the worker process died (exit code {code})")
        self.waiting -= 1
        outcome, value = pickle.loads(reply)
        if outcome == "raised":
            raise value
        return value

    def close(self) -> None:
        """End the child (killed if it does not exit within a few seconds)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=CHILD_GRACE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


_WORKER_CODE = """
import os, pickle, sys
calls, replies = sys.stdin.buffer, os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
while header := calls.read(8):
    function, args, kwargs = pickle.loads(calls.read(int.from_bytes(header, "little")))
    try:
        message = pickle.dumps(("returned", function(*args, **kwargs)), pickle.HIGHEST_PROTOCOL)
    except Exception as error:
        message = pickle.dumps(("raised", error))
    replies.write(len(message).to_bytes(8, "little") + message)
    replies.flush()
"""


def call_with_deadline(
    deadline_s: float, function: Callable[..., T], /, *args: object, **kwargs: object
) -> T | None:
    """``function(*args, **kwargs)`` in a fresh :class:`ChildWorker`; None past the deadline.

    The child is killed at the deadline (HiGHS's root cut loop at 50,000
    villages ran 648 s under a 70 s limit); an exception in it is raised here.
    """
    worker = ChildWorker()
    try:
        worker.submit(function, *args, **kwargs)
        try:
            return worker.result(timeout_s=max(deadline_s, 0.0))  # type: ignore[return-value]
        except DeadlinePassed:
            return None
    finally:
        worker.close()
