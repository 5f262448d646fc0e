# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The contract every fuzz test checks: an input is accepted, or refused with a documented error that names it.

:func:`check_contract` calls the code under test and classifies the outcome. Anything but a return or one of
:data:`monai_d3gm.errors.DOCUMENTED_ERRORS` fails the test with the input's description. With ``D3GM_FUZZ_LOG`` set
to a file path, each outcome is appended there as one JSON line ``{"kind", "outcome", "detail"}``;
``benchmarks/fuzz_report.py`` tabulates them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from monai_d3gm.errors import DOCUMENTED_ERRORS

__all__ = ["check_contract", "record"]

#: a refusal's message must say at least this much
MIN_MESSAGE = 20


def record(kind: str, outcome: str, detail: str = "") -> None:
    """Append one outcome to the fuzz log (``D3GM_FUZZ_LOG``), when it is set."""
    path = os.environ.get("D3GM_FUZZ_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"kind": kind, "outcome": outcome, "detail": detail[:200]}) + "\n")


def check_contract(
    kind: str,
    call: Callable[[], Any],
    mention: Sequence[str] = (),
    expect_error: bool | None = None,
    describe: str = "",
) -> Any:
    """Run ``call()`` and check the error contract.

    Args:
        kind: what is fuzzed, e.g. "fastMRI reader"; the row of the report.
        call: the code under test, with the fuzzed input bound.
        mention: when an error is raised, its message must contain at least one of these (e.g. the file name or the
            argument's name), case-insensitively.
        expect_error: True: the input is known bad and must be refused; False: known good and must be accepted;
            None: either is fine.
        describe: the input, for the failure message.

    Returns:
        ``call()``'s result, or None when it raised a documented error.
    """
    try:
        result = call()
    except DOCUMENTED_ERRORS as e:
        message = str(e)
        record(kind, type(e).__name__, message)
        if expect_error is False:
            pytest.fail(f"{kind}: a valid input ({describe}) was refused: {type(e).__name__}: {message}")
        assert len(message) >= MIN_MESSAGE, f"{kind}: the message {message!r} is too short to name the problem"
        if mention:
            assert any(m.lower() in message.lower() for m in mention), (
                f"{kind}: the message {message!r} names none of {list(mention)} ({describe})"
            )
        return None
    except Exception as e:  # the contract: nothing else escapes
        record(kind, "crash", f"{type(e).__name__}: {e}")
        raise AssertionError(f"{kind}: undocumented {type(e).__name__} escaped for {describe}: {e}") from e
    record(kind, "accepted")
    if expect_error is True:
        pytest.fail(f"{kind}: a bad input ({describe}) was accepted")
    return result


#: dtypes a fuzzed array may have
FUZZ_DTYPES = ("float32", "float64", "float16", "int16", "uint8", "bool", "complex64", "complex128")


def arrays(max_ndim: int = 5, max_side: int = 9, dtypes: Sequence[str] = FUZZ_DTYPES, min_ndim: int = 0):
    """Hypothesis strategy: ``(numpy array, description)`` of random rank (``min_ndim``..``max_ndim``), sides (zero
    included), dtype and values (unit, huge, tiny, zeros, with a NaN or an Inf)."""
    import numpy as np
    from hypothesis import strategies as st

    @st.composite
    def build(draw):
        shape = tuple(draw(st.lists(st.integers(0, max_side), min_size=min_ndim, max_size=max_ndim)))
        dtype = np.dtype(draw(st.sampled_from(list(dtypes))))
        values = draw(st.sampled_from(["unit", "huge", "tiny", "zeros", "nan", "inf"]))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        x = rng.random(shape)
        if dtype.kind == "c":
            x = x + 1j * rng.random(shape)
        x = x * {"huge": 1e30, "tiny": 1e-30, "zeros": 0.0}.get(values, 1.0)
        if values in ("nan", "inf") and x.size:
            x.flat[draw(st.integers(0, x.size - 1))] = np.nan if values == "nan" else np.inf
        with np.errstate(all="ignore"):
            out = x > 0.5 if dtype == np.bool_ else x.astype(dtype) if dtype.kind in "fc" else (x * 100).astype(dtype)
        return out, f"shape {shape} {dtype} {values}"

    return build()


def describe_value(value: Any) -> str:
    """A short description of a fuzzed value: type, dtype and shape for arrays, else its repr (80 characters)."""
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"{type(value).__name__} {value.dtype} {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"[:80]


def all_finite(value: Any) -> bool:
    """Whether a numpy array or tensor holds no NaN/Inf (integer and bool arrays always do)."""
    import numpy as np
    import torch

    t = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    return bool(torch.isfinite(t).all()) if t.is_floating_point() or t.is_complex() else True


def one_bad(valid: dict, bad: dict):
    """Hypothesis strategy: keyword arguments drawn from ``valid`` (name -> strategy), and in a third of the examples
    one of them replaced by a value from ``bad`` (name -> list of bad values)."""
    from hypothesis import strategies as st

    @st.composite
    def build(draw) -> dict:
        kwargs = {name: draw(strategy) for name, strategy in valid.items()}
        if draw(st.integers(0, 2)) == 0:
            name = draw(st.sampled_from(sorted(bad)))
            kwargs[name] = draw(st.sampled_from(bad[name]))
        return kwargs

    return build()
