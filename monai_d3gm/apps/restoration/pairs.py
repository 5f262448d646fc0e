# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Find degraded/clean image pairs in the folder layouts that restoration datasets are published in.

Recognised layouts (searched recursively, so ``train/`` or ``test/`` parents are fine):

* ``input/`` + ``target/`` (Restormer, AirNet, MPRNet releases of Rain100H/L, SOTS);
* ``rain/`` (or ``rainy/``) + ``norain/`` (JORDER's Rain100H/L: ``rain/X2/norain-1x2.png`` <-> ``norain/norain-1.png``);
* ``hazy/`` + ``GT/`` (O-HAZE, Dense-Haze, NH-HAZE: ``27_outdoor_hazy.jpg`` <-> ``27_outdoor_GT.jpg``);
* ``LQ/`` + ``GT/`` (IR-SDE's layout), ``degraded/`` + ``clean/``, ``low/`` + ``high/``.

Files are matched by a key: the file stem without the degradation words (``rain``, ``hazy``, ``GT``, ...), without an
``x2`` factor suffix, and, for SOTS-style names ``0001_0.8_0.2``, without the haze parameters.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ...errors import ImageInputError
from .io import IMAGE_SUFFIXES, as_path

__all__ = ["find_images", "find_pairs", "find_photo_cases", "pair_dirs", "DEGRADED_DIRS", "CLEAN_DIRS"]

DEGRADED_DIRS = ("input", "rain", "rainy", "hazy", "haze", "lq", "degraded", "low", "blur")
CLEAN_DIRS = ("target", "norain", "gt", "clear", "clean", "hq", "groundtruth", "high", "sharp")
_WORDS = re.compile(r"(?i)(^|[_\-\s])(norain|rainy|rain|hazy|haze|gt|clean|clear|target|input)(?=$|[_\-\s])")


def find_images(folder: str | os.PathLike, recursive: bool = False) -> list[Path]:
    """The image files of ``folder`` (sorted, hidden files skipped)."""
    root = Path(folder)
    pattern = root.rglob("*") if recursive else root.iterdir()
    return sorted(
        p for p in pattern if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def pair_key(path: Path) -> str:
    """The matching key of an image file name (see the module docstring)."""
    stem = path.stem
    stem = _WORDS.sub(r"\1", stem)
    stem = re.sub(r"(?i)x\d+$", "", stem)  # JORDER's "norain-1x2"
    stem = re.sub(r"^(\d+)_\d*\.?\d+_\d*\.?\d+$", r"\1", stem)  # SOTS "0001_0.8_0.2"
    stem = stem.strip("_- ").lower()
    return (stem.lstrip("0") or "0") if stem.isdigit() else stem


def pair_dirs(root: Path) -> list[tuple[Path, Path]]:
    found = []
    for folder in sorted([root, *[p for p in root.rglob("*") if p.is_dir()]]):
        subs = {p.name.lower(): p for p in folder.iterdir() if p.is_dir()}
        degraded = next((subs[n] for n in DEGRADED_DIRS if n in subs), None)
        clean = next((subs[n] for n in CLEAN_DIRS if n in subs), None)
        if degraded is not None and clean is not None:
            found.append((degraded, clean))
    return found


def find_pairs(dataset_dir: str | os.PathLike) -> list[dict[str, str]]:
    """All degraded/clean pairs under ``dataset_dir``: ``[{"name", "input", "target"}, ...]``.

    Raises:
        ImageInputError: ``dataset_dir`` is not a path or not an existing folder, it holds no recognised pair of
            folders, a degraded image has no clean partner or several (the message lists the names), or two pairs
            would have the same name.
    """
    root = as_path(dataset_dir, "a dataset folder", "pass a folder with degraded and clean sub-folders")
    if not root.is_dir():
        raise ImageInputError(f"{root} is not a folder; pass a dataset folder with degraded and clean sub-folders.")
    pairs = []
    for degraded, clean in pair_dirs(root):
        targets: dict[str, list[Path]] = {}
        for p in find_images(clean, recursive=True):
            targets.setdefault(pair_key(p), []).append(p)
        unmatched = []
        for p in find_images(degraded, recursive=True):
            found = targets.get(pair_key(p), [])
            if not found:
                unmatched.append(p.name)
                continue
            if len(found) > 1:
                raise ImageInputError(
                    f"{p}: several clean images match it ({', '.join(str(t) for t in found[:3])}); keep one clean "
                    "image per name (e.g. input/1.png and target/1.png)."
                )
            rel = degraded.parent.relative_to(root)
            prefix = "" if rel == Path(".") else "_".join(rel.parts) + "_"
            pairs.append({"name": prefix + p.stem, "input": str(p), "target": str(found[0])})
        if unmatched:
            raise ImageInputError(
                f"{degraded}: no clean image in {clean} matches {unmatched[:5]}{' ...' if len(unmatched) > 5 else ''}; "
                "name pairs alike (e.g. input/1.png and target/1.png)."
            )
    if not pairs:
        raise ImageInputError(
            f"{root} holds no image pairs: expected sub-folders such as input/ + target/, rain/ + norain/, hazy/ + GT/ "
            "or LQ/ + GT/ with matching file names."
        )
    seen: dict[str, str] = {}
    for pair in pairs:
        if pair["name"] in seen:
            raise ImageInputError(
                f"{root}: two pairs would both be named {pair['name']!r} ({seen[pair['name']]} and {pair['input']}); "
                "pair names key held-out lists and output folders, so rename one of the degraded images."
            )
        seen[pair["name"]] = pair["input"]
    return pairs


def find_photo_cases(
    input_path: str | os.PathLike, reference_path: str | os.PathLike | None = None
) -> list[dict[str, str | None]]:
    """``[{"name", "input", "reference"}]`` for a photo, a folder of photos or a paired dataset folder.

    A folder with degraded/clean sub-folders (``input/`` + ``target/``, ``hazy/`` + ``GT/``, ...) gives its pairs;
    otherwise ``reference_path`` (a photo or a folder matched by name) gives the references, if any.
    """
    p = Path(input_path)
    if p.is_dir() and pair_dirs(p):
        return [{"name": c["name"], "input": c["input"], "reference": c["target"]} for c in find_pairs(p)]
    if p.is_dir():
        photos = find_images(p)
        if not photos:
            raise ImageInputError(f"{p} holds no photo ({', '.join(IMAGE_SUFFIXES)}) and no degraded/clean folders.")
    elif p.is_file():
        photos = [p]
    else:
        raise ImageInputError(f"{p} does not exist; pass a photo, a folder of photos or a paired dataset folder.")
    refs: dict[str, Path] = {}
    if reference_path:
        r = Path(reference_path)
        if r.is_file() and len(photos) == 1:
            refs[pair_key(photos[0])] = r
        elif r.is_dir():
            refs = {pair_key(f): f for f in find_images(r)}
        else:
            raise ImageInputError(f"reference_path {r} is neither a photo (for one input) nor a folder of photos.")
    stems = [f.stem for f in photos]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:  # their outputs would overwrite each other
        raise ImageInputError(
            f"{p} holds several photos named {clashes[0]!r} with different suffixes; their outputs would share a "
            "folder. Rename or move all but one."
        )
    return [
        {"name": f.stem, "input": str(f), "reference": str(refs[pair_key(f)]) if pair_key(f) in refs else None}
        for f in photos
    ]
