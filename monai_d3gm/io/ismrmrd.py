# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Reader of Cartesian ISMRMRD / MRD raw data (``.h5``) with h5py only, plus noise pre-whitening.

An MRD file holds an XML header under ``<group>/xml`` and the acquisitions under ``<group>/data``: a 1-D compound
dataset with the fields ``head`` (the ``AcquisitionHeader`` struct), ``traj`` (float32 trajectory, empty for Cartesian
data) and ``data`` (float32 pairs: ``active_channels * number_of_samples`` complex samples, channel-major).

Example:
    >>> mrd = read_ismrmrd("meas.h5", remove_oversampling=True)
    >>> w = noise_prewhitening_matrix(mrd.noise)
    >>> kspace = prewhiten(mrd.kspace, w)  # (coils, ky, kx)
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import MRIInputError
from .hdf5 import H5_READ_ERRORS, h5_keys, open_h5, read_text

__all__ = [
    "ISMRMRD_NAMESPACE",
    "MRDData",
    "noise_prewhitening_matrix",
    "parse_ismrmrd_header",
    "prewhiten",
    "read_ismrmrd",
]

#: XML namespace of the ISMRMRD header
ISMRMRD_NAMESPACE = "http://www.ismrm.org/ISMRMRD"

# acquisition flags: ISMRMRD numbers the bits from 1, so flag ``n`` is ``1 << (n - 1)``
_FLAG_IS_NOISE_MEASUREMENT = 19
_FLAG_IS_PARALLEL_CALIBRATION = 20
_FLAG_IS_PARALLEL_CALIBRATION_AND_IMAGING = 21
_FLAG_IS_REVERSE = 22
#: lines that are not k-space of the image: navigators, phase correction, feedback, dummy scans, coil correction,
#: phase stabilisation (noise is handled separately)
_FLAGS_NOT_IMAGING = (23, 24, 26, 27, 28, 29, 30, 31)
#: ISMRMRD counts samples and lines in 16 bits, so no matrix size can exceed this
_MAX_MATRIX = 65535
#: the ``AcquisitionHeader`` and ``EncodingCounters`` fields the reader uses
_HEAD_FIELDS = (
    "flags",
    "idx",
    "encoding_space_ref",
    "trajectory_dimensions",
    "active_channels",
    "number_of_samples",
    "discard_pre",
    "discard_post",
    "center_sample",
    "sample_time_us",
)
_IDX_FIELDS = ("kspace_encode_step_1", "kspace_encode_step_2", "slice", "contrast", "phase", "repetition", "set")


def _flag(flags: np.ndarray, bit: int) -> np.ndarray:
    """Whether ISMRMRD flag ``bit`` (1-based) is set in each ``flags`` value."""
    return (flags & np.uint64(1 << (bit - 1))) != 0


@dataclass
class MRDData:
    """Cartesian k-space assembled from an ISMRMRD/MRD file.

    Attributes:
        kspace: complex64 ``(coils, ky, kx)`` for one slice, ``(slices, coils, ky, kx)`` for several; lines that were
            not acquired are zero. The k-space centre lies at ``ky = n_ky // 2`` when ``center_ky=True`` (the default)
            and at ``kx = n_kx // 2``.
        mask: bool ``(ky,)`` (or ``(slices, ky)``): the phase-encoding lines acquired (calibration lines included).
        calibration: bool, same shape as ``mask``: the lines flagged as parallel-imaging calibration.
        noise: complex64 ``(channels, samples)`` from the noise scans (all concatenated), or None.
        header: the parsed XML header, see :func:`parse_ismrmrd_header`.
        xml: the XML header text.
        ky_offset: rows by which the acquired ``kspace_encode_step_1`` indices were shifted so that the encoding centre
            lies at ``n_ky // 2`` (row = ky index + ky_offset).
        slices: the ``idx.slice`` values, in the order of the first axis of a multi-slice ``kspace``.
        acquisition_dwell_time_us: ``sample_time_us`` of the imaging lines (before oversampling removal).
        noise_dwell_time_us: ``sample_time_us`` of the noise scans, or None.
        oversampling_removed: whether the readout was cropped to the recon matrix.
    """

    kspace: np.ndarray
    mask: np.ndarray
    calibration: np.ndarray
    noise: np.ndarray | None
    header: dict[str, Any]
    xml: str
    ky_offset: int = 0
    slices: list[int] = field(default_factory=lambda: [0])
    acquisition_dwell_time_us: float | None = None
    noise_dwell_time_us: float | None = None
    oversampling_removed: bool = False

    @property
    def num_coils(self) -> int:
        """Number of receiver channels in ``kspace``."""
        return int(self.kspace.shape[-3])


def _find(elem: ET.Element | None, path: str) -> ET.Element | None:
    """``elem.find`` for a ``/``-separated path, with or without the ISMRMRD namespace."""
    if elem is None:
        return None
    found = elem.find("/".join(f"{{{ISMRMRD_NAMESPACE}}}{p}" for p in path.split("/")))
    return found if found is not None else elem.find(path)


def _text(elem: ET.Element | None, path: str) -> str | None:
    found = _find(elem, path)
    return None if found is None or found.text is None else found.text.strip()


def _number(elem: ET.Element | None, path: str, kind: type = int) -> Any:
    """The number at ``path``, or None when it is absent or not a finite number ("inf", "nan", "abc")."""
    text = _text(elem, path)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not np.isfinite(value):
        return None
    return int(value) if kind is int else kind(value)


def _xyz(elem: ET.Element | None, path: str, kind: type) -> tuple | None:
    node = _find(elem, path)
    if node is None:
        return None
    values = tuple(_number(node, a, kind) for a in ("x", "y", "z"))
    return None if any(v is None for v in values) else values


def parse_ismrmrd_header(xml: str | bytes, source: str = "ISMRMRD header") -> dict[str, Any]:
    """Parse the fields of an ISMRMRD XML header that a Cartesian reconstruction needs.

    Args:
        xml: the header text (``dataset/xml`` of an MRD file, ``ismrmrd_header`` of a fastMRI file).
        source: name of the file, for error messages.

    Returns:
        dict with ``encoded_matrix`` and ``recon_matrix`` ((x, y, z) ints), ``encoded_fov_mm`` and ``recon_fov_mm``
        ((x, y, z) floats), ``receiver_channels``, ``trajectory``, ``acceleration`` ((ky, kz)), ``calibration_mode``,
        ``kspace_encoding_step_1`` (dict of minimum/maximum/center), ``relative_receiver_noise_bandwidth``,
        ``system_vendor``, ``protocol_name``; a field absent from the header, or a number that is not finite, is None.

    Raises:
        MRIInputError: the text is not XML or has no ``encoding`` element.
    """
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="replace")
    if not isinstance(xml, str):
        raise MRIInputError(
            f"{source}: the ISMRMRD XML header is a {type(xml).__name__}, not text; pass the header as str or bytes."
        )
    try:
        root = ET.fromstring(xml.strip().rstrip("\x00"))
    except (ET.ParseError, ValueError) as e:  # ValueError: e.g. lone surrogates that cannot be encoded
        raise MRIInputError(
            f"{source}: the ISMRMRD XML header cannot be parsed ({e}); the file is corrupted or not an MRD file."
        ) from None
    enc = _find(root, "encoding")
    if enc is None:
        raise MRIInputError(
            f"{source}: the ISMRMRD XML header has no <encoding> element; it is not a valid MRD header."
        )
    limits = _find(enc, "encodingLimits/kspace_encoding_step_1")
    return {
        "encoded_matrix": _xyz(enc, "encodedSpace/matrixSize", int),
        "recon_matrix": _xyz(enc, "reconSpace/matrixSize", int),
        "encoded_fov_mm": _xyz(enc, "encodedSpace/fieldOfView_mm", float),
        "recon_fov_mm": _xyz(enc, "reconSpace/fieldOfView_mm", float),
        "receiver_channels": _number(root, "acquisitionSystemInformation/receiverChannels", int),
        "relative_receiver_noise_bandwidth": _number(
            root, "acquisitionSystemInformation/relativeReceiverNoiseBandwidth", float
        ),
        "system_vendor": _text(root, "acquisitionSystemInformation/systemVendor"),
        "protocol_name": _text(root, "measurementInformation/protocolName"),
        "trajectory": _text(enc, "trajectory"),
        "acceleration": (
            _number(enc, "parallelImaging/accelerationFactor/kspace_encoding_step_1", int),
            _number(enc, "parallelImaging/accelerationFactor/kspace_encoding_step_2", int),
        ),
        "calibration_mode": _text(enc, "parallelImaging/calibrationMode"),
        "kspace_encoding_step_1": None
        if limits is None
        else {k: _number(limits, k, int) for k in ("minimum", "maximum", "center")},
    }


def read_ismrmrd(
    path: str | os.PathLike,
    *,
    group: str = "dataset",
    remove_oversampling: bool = False,
    center_ky: bool = True,
    contrast: int = 0,
    repetition: int = 0,
) -> MRDData:
    """Read Cartesian k-space from an ISMRMRD/MRD ``.h5`` file.

    Noise scans (flag 19) are returned apart in ``noise``; navigator, phase-correction, feedback, dummy-scan and
    phase-stabilisation lines are skipped; parallel-imaging calibration lines are kept (they are real k-space) and also
    marked in ``calibration``. Lines acquired several times (averages) are averaged; reversed lines (flag 22) are
    flipped. Samples are placed so that ``center_sample`` lands at ``kx = n_kx // 2``.

    Args:
        path: the MRD file.
        group: the HDF5 group that holds ``xml`` and ``data`` (``"dataset"`` in files from the ISMRMRD converters).
        remove_oversampling: crop the readout to the recon matrix (e.g. 384 -> 192 when it is 2x oversampled): inverse
            FFT along kx, keep the centre ``n_kx * recon_x / encoded_x`` samples, FFT back. The FFTs are unitary
            (``norm="ortho"``), so the noise per sample keeps its variance.
        center_ky: shift the ky rows so that the header's ``kspace_encoding_step_1`` centre lands at ``n_ky // 2``
            (partial-Fourier and reduced phase-resolution files start their lines at 0).
        contrast: the ``idx.contrast`` to read.
        repetition: the ``idx.repetition`` to read.

    Returns:
        :class:`MRDData`; ``kspace`` is ``(coils, ky, kx)`` complex64 for one slice, ``(slices, coils, ky, kx)``
        for several.

    Raises:
        MRIInputError: not an HDF5/MRD file, truncated or corrupted file, ``<group>/data`` or ``<group>/xml`` missing
            or malformed (not acquisitions, empty header), non-Cartesian trajectory, 3-D encoding, no imaging lines,
            header matrix sizes outside 0..65535, imaging lines without channels or samples, data of the wrong length,
            NaN or Inf samples.
    """
    path = os.fspath(path)
    xml, head, traj_lengths, payload = _read_mrd_datasets(path, group)
    header = parse_ismrmrd_header(xml, source=path)
    lines, is_noise = _imaging_lines(path, group, header, head, traj_lengths, contrast, repetition)
    enc = _validate_encoding(path, header, head["idx"], lines)
    acquisitions = _Acquisitions(path, head, payload)
    n_coils = acquisitions.coils_of(lines)
    readout = _readout_placement(path, head, lines, enc)
    ky, n_ky, ky_offset = _phase_placement(head["idx"], lines, enc, header, center_ky)
    kspace, mask, calib, slice_ids = _assemble(head, lines, acquisitions, readout, ky + ky_offset, n_ky, n_coils)

    oversampling_removed = False
    recon = header["recon_matrix"]
    if remove_oversampling and recon and enc[0] and 0 < recon[0] < enc[0]:
        kspace, oversampling_removed = _crop_readout(kspace, recon[0], enc[0]), True
    noise, noise_dwell = _noise_scans(head, is_noise, acquisitions, n_coils)

    kspace = kspace.astype(np.complex64)
    if not np.isfinite(kspace).all():  # finite float32 samples can overflow complex64 after the readout FFTs
        raise MRIInputError(
            f"{path}: the assembled k-space overflows complex64 (samples near the float32 maximum); the file is "
            "corrupted or needs rescaling."
        )
    if len(slice_ids) == 1:
        kspace, mask, calib = kspace[0], mask[0], calib[0]
    return MRDData(
        kspace=kspace,
        mask=mask,
        calibration=calib,
        noise=noise,
        header=header,
        xml=xml,
        ky_offset=ky_offset,
        slices=slice_ids,
        acquisition_dwell_time_us=float(head["sample_time_us"][lines[0]]),
        noise_dwell_time_us=noise_dwell,
        oversampling_removed=oversampling_removed,
    )


def _read_mrd_datasets(path: str, group: str) -> tuple[str, np.ndarray, np.ndarray | None, np.ndarray]:
    """The XML header text, the acquisition headers, the trajectory lengths (None without 'traj') and the payloads."""
    with open_h5(path, "ISMRMRD/MRD") as f:
        try:
            grp = _validate_mrd_group(path, f, group)
            xml = read_text(grp["xml"])
            if xml is None:
                raise MRIInputError(
                    f"{path}: '{group}/xml' is empty or not a dataset; it must hold the ISMRMRD XML header text. "
                    "Convert the raw data again."
                )
            dset = grp["data"]
            names = _validate_acquisition_dataset(path, group, dset)
            head = dset.fields("head")[()]
            traj_lengths = np.array([np.asarray(t).size for t in dset.fields("traj")[()]]) if "traj" in names else None
            return xml, head, traj_lengths, dset.fields("data")[()]
        except MRIInputError:
            raise
        except H5_READ_ERRORS as e:
            raise MRIInputError(
                f"{path}: reading '{group}' failed ({type(e).__name__}: {e}); the file is probably truncated or "
                "corrupted."
            ) from None


def _validate_mrd_group(path: str, f: Any, group: str) -> Any:
    """``f[group]``, a group that holds the datasets 'xml' and 'data'."""
    if group not in f:
        raise MRIInputError(
            f"{path}: no HDF5 group {group!r} (top-level keys: {h5_keys(f)}); an MRD file keeps its "
            f"acquisitions in '<group>/data' and its header in '<group>/xml': pass group= with the right name."
        )
    grp = f[group]
    if not hasattr(grp, "keys"):
        raise MRIInputError(
            f"{path}: '{group}' is an HDF5 dataset, not a group; an MRD file keeps its acquisitions in "
            f"'{group}/data' and its header in '{group}/xml'. Pass an ISMRMRD/MRD file."
        )
    for key in ("xml", "data"):
        if key not in grp:
            raise MRIInputError(
                f"{path}: missing HDF5 dataset '{group}/{key}' (found in {group!r}: {h5_keys(grp)}); an "
                f"MRD file holds the XML header in '{group}/xml' and the acquisitions in '{group}/data'. "
                "Convert the raw data with siemens_to_ismrmrd (or the vendor's converter) again."
            )
    return grp


def _validate_acquisition_dataset(path: str, group: str, dset: Any) -> tuple[str, ...]:
    """The field names of '<group>/data', checked to be a 1-D array of ISMRMRD acquisitions."""
    dtype = getattr(dset, "dtype", None)  # None for a group
    names = (dtype.names if dtype is not None else None) or ()
    if not {"head", "data"} <= set(names):
        raise MRIInputError(
            f"{path}: '{group}/data' has fields {list(names)}, not the MRD acquisition fields "
            "('head', 'traj', 'data'); it is not an MRD file."
        )
    if dset.ndim != 1:
        raise MRIInputError(
            f"{path}: '{group}/data' has shape {dset.shape}; MRD acquisitions are a 1-D array. It is not an "
            "MRD file, or it is corrupted."
        )
    head_names = dset.dtype["head"].names or ()
    idx_names = (dset.dtype["head"]["idx"].names or ()) if "idx" in head_names else ()
    missing = [k for k in _HEAD_FIELDS if k not in head_names] + [
        f"idx.{k}" for k in _IDX_FIELDS if "idx" in head_names and k not in idx_names
    ]
    if missing:
        raise MRIInputError(
            f"{path}: the acquisition headers in '{group}/data' lack the fields {missing}; they are not "
            "ISMRMRD AcquisitionHeaders. Convert the raw data with an ISMRMRD converter again."
        )
    return names


def _imaging_lines(
    path: str,
    group: str,
    header: dict[str, Any],
    head: np.ndarray,
    traj_lengths: np.ndarray | None,
    contrast: int,
    repetition: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the Cartesian imaging lines of the chosen contrast and repetition, and the noise-scan flags."""
    trajectory = (header["trajectory"] or "cartesian").lower()
    if trajectory != "cartesian":
        raise MRIInputError(
            f"{path}: the header says the trajectory is {header['trajectory']!r}; this reader handles Cartesian "
            "k-space only. Grid the data (e.g. with a NUFFT) before using it."
        )
    if head.shape[0] == 0:
        raise MRIInputError(f"{path}: '{group}/data' holds no acquisitions; the file is empty.")
    flags, idx = head["flags"].astype(np.uint64), head["idx"]
    is_noise = _flag(flags, _FLAG_IS_NOISE_MEASUREMENT)
    skip = is_noise.copy()
    for bit in _FLAGS_NOT_IMAGING:
        skip |= _flag(flags, bit)
    imaging = ~skip & (idx["contrast"] == contrast) & (idx["repetition"] == repetition)
    if head["encoding_space_ref"].any():
        imaging &= head["encoding_space_ref"] == 0
    has_traj = (head["trajectory_dimensions"][imaging] > 0).any()
    if traj_lengths is not None:
        has_traj |= (traj_lengths[imaging] > 0).any()
    if has_traj:
        raise MRIInputError(
            f"{path}: the acquisitions carry a k-space trajectory (non-empty 'traj'), so the data is non-Cartesian; "
            "this reader handles Cartesian k-space only. Grid the data (e.g. with a NUFFT) first."
        )
    lines = np.flatnonzero(imaging)
    if lines.size == 0:
        raise MRIInputError(
            f"{path}: no imaging lines (of {head.shape[0]} acquisitions, {int(is_noise.sum())} are noise scans and "
            f"the others are not k-space of contrast {contrast}, repetition {repetition}); the file holds no image "
            "data."
        )
    return lines, is_noise


def _validate_encoding(path: str, header: dict[str, Any], idx: np.ndarray, lines: np.ndarray) -> tuple[int, ...]:
    """The encoded matrix (x, y, z), checked: one phase and set, sizes ISMRMRD can hold, 2-D encoding."""
    for key, name in (("phase", "cardiac phases"), ("set", "sets")):
        if np.unique(idx[key][lines]).size > 1:
            raise MRIInputError(
                f"{path}: the imaging lines span {np.unique(idx[key][lines]).size} {name} (idx.{key}); this reader "
                "assembles one image per slice. Split the file per phase/set first."
            )
    for space in ("encoded", "recon"):
        matrix = header[f"{space}_matrix"]
        if matrix is not None and not all(0 <= m <= _MAX_MATRIX for m in matrix):
            raise MRIInputError(
                f"{path}: the XML header's {space}Space matrixSize is {matrix}; each size must lie in 0..{_MAX_MATRIX} "
                "(ISMRMRD counts samples and lines in 16 bits). The header is corrupted: fix it or convert again."
            )
    enc = header["encoded_matrix"] or (0, 0, 1)
    if enc[2] > 1 or (idx["kspace_encode_step_2"][lines] > 0).any():
        raise MRIInputError(
            f"{path}: 3-D encoding (encoded matrix z = {enc[2]}, kspace_encode_step_2 > 0); this reader assembles 2-D "
            "(multi-slice) Cartesian k-space only."
        )
    return enc


class _Acquisitions:
    """The complex samples of each acquisition, checked as they are read."""

    def __init__(self, path: str, head: np.ndarray, payload: np.ndarray) -> None:
        self.path, self.payload = path, payload
        self.channels = head["active_channels"].astype(np.int64)
        self.samples = head["number_of_samples"].astype(np.int64)

    def __getitem__(self, i: int) -> np.ndarray:
        """Acquisition ``i`` as complex64 (channels, samples)."""
        path, channels, samples = self.path, self.channels, self.samples
        try:
            data = np.asarray(self.payload[i], dtype=np.float32)
        except (TypeError, ValueError):
            raise MRIInputError(
                f"{path}: acquisition {i} holds {type(self.payload[i]).__name__} data, not float32 numbers; the file "
                "is corrupted or not an MRD file."
            ) from None
        expected = 2 * channels[i] * samples[i]
        if data.size != expected:
            raise MRIInputError(
                f"{path}: acquisition {i} holds {data.size} floats, but its header says {channels[i]} channels x "
                f"{samples[i]} samples x 2 = {expected}; the file is corrupted."
            )
        if not np.isfinite(data).all():
            raise MRIInputError(
                f"{path}: acquisition {i} has NaN or Inf samples; the file is corrupted. Convert the raw data again."
            )
        return data.view(np.complex64).reshape(channels[i], samples[i])

    def coils_of(self, lines: np.ndarray) -> int:
        """The one channel count of ``lines`` (> 0)."""
        n_coils = int(self.channels[lines[0]])
        if (self.channels[lines] != n_coils).any():
            raise MRIInputError(
                f"{self.path}: the imaging lines have different channel counts "
                f"{sorted(set(self.channels[lines].tolist()))}; pass a file where every line has the same active "
                "channels."
            )
        if n_coils == 0:
            raise MRIInputError(
                f"{self.path}: the imaging lines have 0 active channels, so they hold no k-space; the file is "
                "corrupted."
            )
        return n_coils


@dataclass
class _Readout:
    """Where each acquisition's kept samples go along kx: samples[pre : samples - post] at offset, of n_kx."""

    pre: np.ndarray
    post: np.ndarray
    kept: np.ndarray
    offsets: np.ndarray
    n_kx: int


def _readout_placement(path: str, head: np.ndarray, lines: np.ndarray, enc: tuple[int, ...]) -> _Readout:
    """Place the kept samples so that ``center_sample`` lands at kx = n_kx // 2 (or from 0 when it cannot)."""
    samples = head["number_of_samples"].astype(np.int64)
    pre = head["discard_pre"].astype(np.int64)
    post = head["discard_post"].astype(np.int64)
    kept = samples - pre - post
    if (kept[lines] < 1).any():
        i = int(lines[np.argmax(kept[lines] < 1)])
        raise MRIInputError(
            f"{path}: acquisition {i} keeps no samples ({samples[i]} samples minus discard_pre {pre[i]} and "
            f"discard_post {post[i]}); the acquisition headers are corrupted."
        )
    centre = head["center_sample"].astype(np.int64) - pre
    n_kx = int(enc[0]) if enc[0] else int(kept[lines].max())
    offsets = n_kx // 2 - centre
    if (offsets[lines] < 0).any() or (offsets[lines] + kept[lines] > n_kx).any():
        n_kx = int(kept[lines].max())
        offsets = np.maximum(n_kx // 2 - centre, 0)
        offsets = np.where(offsets + kept > n_kx, 0, offsets)
    return _Readout(pre, post, kept, offsets, n_kx)


def _phase_placement(
    idx: np.ndarray, lines: np.ndarray, enc: tuple[int, ...], header: dict[str, Any], center_ky: bool
) -> tuple[np.ndarray, int, int]:
    """The ky of every acquisition, the number of rows, and the shift that centres the header's ky centre."""
    ky = idx["kspace_encode_step_1"].astype(np.int64)
    n_ky = int(enc[1]) if enc[1] else int(ky[lines].max()) + 1
    n_ky = max(n_ky, int(ky[lines].max()) + 1)
    ky_offset = 0
    limits = header["kspace_encoding_step_1"]
    if center_ky and limits and limits.get("center") is not None:
        shift = n_ky // 2 - int(limits["center"])
        if 0 <= ky[lines].min() + shift and ky[lines].max() + shift < n_ky:
            ky_offset = shift
    return ky, n_ky, ky_offset


def _assemble(
    head: np.ndarray,
    lines: np.ndarray,
    acquisitions: _Acquisitions,
    readout: _Readout,
    rows: np.ndarray,
    n_ky: int,
    n_coils: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Average the lines into (slices, coils, ky, kx) complex128 k-space; the acquired rows and the calibration rows
    per slice, and the slice numbers."""
    flags, idx = head["flags"].astype(np.uint64), head["idx"]
    slice_ids = sorted(set(idx["slice"][lines].tolist()))
    slice_pos = {s: i for i, s in enumerate(slice_ids)}
    kspace = np.zeros((len(slice_ids), n_coils, n_ky, readout.n_kx), dtype=np.complex128)
    counts = np.zeros((len(slice_ids), n_ky), dtype=np.int64)
    calib = np.zeros((len(slice_ids), n_ky), dtype=bool)
    is_calib = _flag(flags, _FLAG_IS_PARALLEL_CALIBRATION) | _flag(flags, _FLAG_IS_PARALLEL_CALIBRATION_AND_IMAGING)
    is_reverse = _flag(flags, _FLAG_IS_REVERSE)
    pre, post, kept, offsets, samples = readout.pre, readout.post, readout.kept, readout.offsets, acquisitions.samples
    for i in lines:
        data = acquisitions[i][:, pre[i] : samples[i] - post[i]]
        if is_reverse[i]:
            data = data[:, ::-1]
        s, row = slice_pos[int(idx["slice"][i])], int(rows[i])
        kspace[s, :, row, offsets[i] : offsets[i] + kept[i]] += data
        counts[s, row] += 1
        calib[s, row] |= bool(is_calib[i])
    kspace /= np.maximum(counts, 1)[:, None, :, None]
    return kspace, counts > 0, calib, slice_ids


def _crop_readout(kspace: np.ndarray, recon_x: int, encoded_x: int) -> np.ndarray:
    """Keep the centre ``recon_x / encoded_x`` of the image along kx (unitary FFTs: the noise per sample keeps its
    variance)."""
    n_kx = kspace.shape[-1]
    keep = max(1, int(round(n_kx * recon_x / encoded_x)))
    start = n_kx // 2 - keep // 2
    image = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=-1), axis=-1, norm="ortho"), axes=-1)
    image = image[..., start : start + keep]
    return np.fft.fftshift(np.fft.fft(np.fft.ifftshift(image, axes=-1), axis=-1, norm="ortho"), axes=-1)


def _noise_scans(
    head: np.ndarray, is_noise: np.ndarray, acquisitions: _Acquisitions, n_coils: int
) -> tuple[np.ndarray | None, float | None]:
    """The noise scans with the imaging lines' channel count as complex64 (coils, samples), and their dwell time."""
    noise_lines = np.flatnonzero(is_noise)
    blocks = [acquisitions[i] for i in noise_lines if acquisitions.channels[i] == n_coils]
    if not blocks:  # reading them refuses NaN/Inf noise samples too
        return None, None
    return np.concatenate(blocks, axis=1).astype(np.complex64), float(head["sample_time_us"][noise_lines[0]])


def noise_prewhitening_matrix(noise: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Noise pre-whitening matrix ``W = scale * inv(L)``, with ``L`` the Cholesky factor of the noise covariance.

    ``W @ coil_data`` (coils first) has identity noise covariance (times ``scale**2``). Noise scans are often sampled
    with another dwell time than the image lines; pass ``scale`` to correct for it (e.g. Gadgetron uses
    ``sqrt(2 * acquisition_dwell / noise_dwell * relative_receiver_noise_bandwidth)`` for 2x-oversampled readouts).

    Args:
        noise: complex ``(channels, samples)`` noise samples (``MRDData.noise``); needs ``samples > channels``.
        scale: factor applied to ``W``.

    Returns:
        complex64 ``(channels, channels)`` lower-triangular matrix ``W``.

    Raises:
        MRIInputError: wrong shape or dtype, no channels, too few samples, non-finite values, a ``scale`` that is not
            a positive finite number, or a covariance that is not positive definite (a dead or duplicated channel) or
            whose whitening matrix overflows complex64.
    """
    noise = np.asarray(noise)
    if noise.dtype.kind not in "biufc":
        raise MRIInputError(f"noise: holds {noise.dtype} values, not numbers; pass MRDData.noise (complex samples).")
    if noise.ndim != 2 or noise.shape[0] == 0:
        raise MRIInputError(
            f"noise: expected (channels, samples) with at least one channel, got shape {noise.shape}; pass "
            "MRDData.noise."
        )
    if not (isinstance(scale, (int, float, np.integer, np.floating)) and np.isfinite(scale) and scale > 0):
        raise MRIInputError(f"noise: scale={scale!r} must be a positive finite number (the whitening matrix gain).")
    channels, n = noise.shape
    if n <= channels:
        raise MRIInputError(
            f"noise: {n} samples for {channels} channels; the covariance needs more samples than channels. Use a "
            "longer noise scan."
        )
    if not np.isfinite(noise).all():
        raise MRIInputError("noise: has NaN or Inf values; the noise scan is corrupted.")
    x = noise.astype(np.complex128)
    cov = (x @ x.conj().T) / n
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise MRIInputError(
            "noise: the noise covariance is not positive definite (a dead or duplicated channel?); drop that channel "
            "before pre-whitening."
        ) from None
    with np.errstate(over="ignore", invalid="ignore"):
        w = (np.linalg.solve(chol, np.eye(channels)) * scale).astype(np.complex64)
    if not np.isfinite(w).all():
        raise MRIInputError(
            "noise: the whitening matrix overflows complex64 (the noise samples are too small, or the covariance is "
            "nearly singular); check the noise scan or pass a smaller scale."
        )
    return w


def prewhiten(kspace: np.ndarray, w: np.ndarray, coil_axis: int = -3) -> np.ndarray:
    """Apply a pre-whitening matrix across the coil axis: ``out[c] = sum_d w[c, d] * kspace[d]``.

    Args:
        kspace: complex ``(coils, ky, kx)`` or ``(slices, coils, ky, kx)`` (coil axis ``coil_axis``).
        w: ``(coils, coils)`` from :func:`noise_prewhitening_matrix`.
        coil_axis: the coil axis of ``kspace``.

    Returns:
        complex64 array of the shape of ``kspace``.

    Raises:
        MRIInputError: non-numeric arrays, ``coil_axis`` outside ``kspace``'s axes, a ``w`` that is not square, does
            not match the coils or has NaN/Inf.
    """
    kspace = np.asarray(kspace)
    w = np.asarray(w)
    if kspace.dtype.kind not in "biufc" or w.dtype.kind not in "biufc":
        raise MRIInputError(
            f"prewhiten: k-space ({kspace.dtype}) and the whitening matrix ({w.dtype}) must be numeric arrays."
        )
    if not isinstance(coil_axis, (int, np.integer)) or not -kspace.ndim <= coil_axis < max(kspace.ndim, 1):
        raise MRIInputError(
            f"prewhiten: coil_axis={coil_axis!r} is not an axis of the k-space of shape {kspace.shape}; pass the "
            "index of its coil axis (-3 for (coils, ky, kx))."
        )
    if w.ndim != 2 or w.shape[0] != w.shape[1] or kspace.ndim == 0 or kspace.shape[coil_axis] != w.shape[1]:
        raise MRIInputError(
            f"prewhiten: k-space shape {kspace.shape} (coil axis {coil_axis}) does not match the whitening matrix "
            f"shape {w.shape}; compute W from the noise of the same coils."
        )
    if not np.isfinite(w).all():
        raise MRIInputError(
            "prewhiten: the whitening matrix has NaN or Inf values; compute it with noise_prewhitening_matrix()."
        )
    moved = np.moveaxis(kspace, coil_axis, 0)
    out = np.tensordot(w, moved, axes=([1], [0]))
    return np.moveaxis(out, 0, coil_axis).astype(np.complex64)
