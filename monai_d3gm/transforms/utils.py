# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Helpers every dictionary transform of the package shares: checked keys and copies of the input."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

from ..errors import D3GMInputError, MRIInputError

__all__ = ["checked_copy", "init_keys", "run_chain"]


def init_keys(
    transform: MapTransform,
    keys: KeysCollection,
    allow_missing_keys: bool = False,
    error: type[D3GMInputError] = MRIInputError,
) -> None:
    """``MapTransform.__init__(transform, keys, allow_missing_keys)``, raising ``error`` (instead of MONAI's
    ``ValueError`` / ``TypeError``) for no key or an unhashable one.

    Args:
        transform: the dictionary transform being built.
        keys: its keys.
        allow_missing_keys: whether absent keys are skipped.
        error: the documented exception type to raise.
    """
    try:
        MapTransform.__init__(transform, keys, allow_missing_keys)
    except (TypeError, ValueError) as err:
        raise error(
            f"{type(transform).__name__}: keys must be one key or a non-empty sequence of hashable keys (e.g. "
            f"'image' or ['mu', 'target']), got {keys!r}."
        ) from err


def checked_copy(
    transform: MapTransform,
    data: Any,
    required: Iterable[Hashable] = (),
    error: type[D3GMInputError] = MRIInputError,
) -> dict[Hashable, Any]:
    """A shallow copy of ``data`` for ``transform`` after checking that it is a mapping that holds the keys it needs.

    MONAI's ``key_iterator`` raises a ``KeyError`` for an absent key; this raises ``error`` first, naming the missing
    key and the keys present.

    Args:
        transform: the dictionary transform.
        data: its input.
        required: keys needed even with ``allow_missing_keys`` (e.g. the reference of a normalisation).
        error: the documented exception type to raise.

    Raises:
        error: ``data`` is not a mapping, or misses one of ``transform.keys`` (unless ``allow_missing_keys``) or of
            ``required``.
    """
    name = type(transform).__name__
    if not isinstance(data, Mapping):
        raise error(
            f"{name} takes a dictionary of named arrays (keys {list(transform.keys)}), got {type(data).__name__}; "
            f"wrap the input, e.g. {{{transform.keys[0]!r}: value}}."
        )
    required = list(required)
    needed = [] if transform.allow_missing_keys else list(transform.keys)
    missing = [key for key in [*needed, *required] if key not in data]
    if missing:
        present = [repr(key) for key in list(data)[:12]] + (["..."] if len(data) > 12 else [])
        skip = "" if missing[0] in required else ", or pass allow_missing_keys=True to skip absent keys"
        raise error(
            f"{name}: key {missing[0]!r} is missing from the data (keys present: {', '.join(present) or 'none'}); "
            f"add it or fix the key name{skip}."
        )
    return dict(data)


def run_chain(transforms: Iterable[Callable[[Any], Any]], data: Any) -> Any:
    """Apply ``transforms`` in turn, as MONAI's ``Compose`` does, but let their errors reach the caller as they are
    (``Compose`` wraps each in ``RuntimeError("applying transform ...")``): the Python API raises the documented
    error itself."""
    for transform in transforms:
        data = transform(data)
    return data
