# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The exception types monai-d3gm documents: what a caller may see escape from its readers, transforms and inferer.

* :class:`D3GMInputError` (a ``ValueError``): an input cannot be used (wrong shape, dtype, NaN/Inf, empty or
  truncated file, missing key, unknown option). Raised early, before any output is written; the message names the
  file or argument, the problem and the fix. The application-specific subclasses are
  :class:`MRIInputError` (MRI files and k-space) and :class:`ImageInputError` (photos and paired folders).
* :class:`InputTooLargeError` (a :class:`D3GMInputError`): the memory guard refused an input that would not fit in
  the memory of the device at the chosen batch (see :mod:`monai_d3gm.memory`).
* :class:`NonFiniteSampleError` (a ``FloatingPointError``): the reverse process produced NaN/Inf from finite inputs;
  the message names the step and whether the network, the scheduler step or data consistency produced it.

Property-based tests (``tests/**/test_*_fuzz.py``) check that nothing else escapes.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from types import TracebackType

__all__ = [
    "D3GMInputError",
    "ImageInputError",
    "InputTooLargeError",
    "MRIInputError",
    "NonFiniteSampleError",
    "DOCUMENTED_ERRORS",
    "documented_cause",
    "report_documented_errors",
]


class D3GMInputError(ValueError):
    """An input (data, file, shape, dtype, value or argument) cannot be used; the message names it and the fix."""


class MRIInputError(D3GMInputError):
    """Raised early, before any output is written, when an MRI input cannot be used.

    The message names the file or argument, the problem, and the fix (e.g. "missing HDF5 dataset 'kspace' in
    file.h5: a fastMRI file holds k-space under 'kspace'; pass --input_path to a fastMRI .h5").
    """


class ImageInputError(D3GMInputError):
    """Raised early, before any output is written, when an image or a paired dataset cannot be used; the message names
    the file, the problem and the fix."""


class InputTooLargeError(D3GMInputError):
    """The input needs more memory than the device has at the chosen batch; the message gives both sizes and the fix
    (a smaller batch, tiling, a slice range, or an explicit memory budget)."""


class NonFiniteSampleError(FloatingPointError):
    """The reverse process produced NaN or Inf; the message names the step, what produced it and what to check."""


#: every exception type a reader, transform or inferer input check may raise on bad input
DOCUMENTED_ERRORS: tuple[type[Exception], ...] = (D3GMInputError, NonFiniteSampleError)


def documented_cause(error: BaseException | None) -> BaseException | None:
    """The first documented error (:data:`DOCUMENTED_ERRORS`) in ``error``'s chain of causes and contexts, or None.

    MONAI's config parser wraps what an expression raises in ``RuntimeError("Failed to evaluate ...")``; the
    project's own error is its cause.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DOCUMENTED_ERRORS):
            return error
        seen.add(id(error))
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return None


def report_documented_errors() -> None:
    """Make an uncaught documented error end the process with the project's message as the last line printed.

    Installs a ``sys.excepthook`` (the bundles' ``run`` list calls this first): when the exception that ends the
    process has a :class:`D3GMInputError` or :class:`NonFiniteSampleError` in its chain, the traceback is left out
    (set ``D3GM_TRACEBACK=1`` to see it) and ``error: <message>`` is printed to stderr as the last line; the exit
    status stays non-zero (1). Any other exception prints its traceback as usual. Calling it twice installs one hook.
    The logging handlers configured by then also drop an ignite engine's "terminating due to exception" records of a
    documented error.
    """
    if getattr(sys.excepthook, "_d3gm", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        cause = documented_cause(value)
        if cause is None:
            previous(kind, value, tb)
            return
        if os.environ.get("D3GM_TRACEBACK"):
            traceback.print_exception(kind, value, tb)
        message = " ".join(str(cause).split())  # one line
        print(f"error: {message}", file=sys.stderr, flush=True)

    hook._d3gm = True  # type: ignore[attr-defined]
    sys.excepthook = hook
    quiet = _EngineErrorFilter()
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            handler.addFilter(quiet)


class _EngineErrorFilter(logging.Filter):
    """Drops an engine's "... terminating due to exception" log records when the exception is a documented error: the
    hook prints its message as the last line, so the log need not announce it first (other errors are logged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR or "terminating due to exception" not in record.getMessage():
            return True
        return documented_cause(sys.exc_info()[1]) is None
