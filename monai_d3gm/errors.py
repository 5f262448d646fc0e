# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The exception types monai-d3gm documents: what a caller may see escape from its readers, transforms and inferer.

* :class:`D3GMInputError` (a ``ValueError``): an input cannot be used (wrong shape, dtype, NaN/Inf, empty or
  truncated file, missing key, unknown option). Raised early, before any output is written; the message names the
  file or argument, the problem and the fix. The application-specific subclasses are
  :class:`~monai_d3gm.apps.reconstruction.errors.MRIInputError` (MRI files and k-space) and
  :class:`~monai_d3gm.apps.restoration.errors.ImageInputError` (photos and paired folders).
* :class:`InputTooLargeError` (a :class:`D3GMInputError`): the memory guard refused an input that would not fit in
  the memory of the device at the chosen batch (see :mod:`monai_d3gm.memory`).
* :class:`NonFiniteSampleError` (a ``FloatingPointError``): the reverse process produced NaN/Inf from finite inputs;
  the message names the step and whether the network, the scheduler step or data consistency produced it.

Property-based tests (``tests/**/test_*_fuzz.py``) check that nothing else escapes.
"""

from __future__ import annotations

__all__ = ["D3GMInputError", "InputTooLargeError", "NonFiniteSampleError", "DOCUMENTED_ERRORS"]


class D3GMInputError(ValueError):
    """An input (data, file, shape, dtype, value or argument) cannot be used; the message names it and the fix."""


class InputTooLargeError(D3GMInputError):
    """The input needs more memory than the device has at the chosen batch; the message gives both sizes and the fix
    (a smaller batch, tiling, a slice range, or an explicit memory budget)."""


class NonFiniteSampleError(FloatingPointError):
    """The reverse process produced NaN or Inf; the message names the step, what produced it and what to check."""


#: every exception type a reader, transform or inferer input check may raise on bad input
DOCUMENTED_ERRORS: tuple[type[Exception], ...] = (D3GMInputError, NonFiniteSampleError)
