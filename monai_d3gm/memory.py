# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""Memory guard: refuse (or shrink the batch of) an input that would not fit, before the operating system kills us.

The network's working memory is estimated from a probe: one no-grad forward pass at two small sizes with a hook on
every layer, summing the bytes of the layers' outputs. That sum counts every activation as if all were alive at
once, so it bounds the real peak from above; :data:`PEAK_FRACTION` turns it into the peak measured for the shipped
networks (``benchmarks/memory_guard.py`` measures the ratio). The probe's growth with the number of pixels is
extrapolated to the input's size, so convolutional (linear) and attention (up to quadratic) networks are both
covered. The sampler's own state (x_t, μ, x̂0, the noise, the network's input and output) is added.

The budget is the memory the device can still give: free CUDA memory on a GPU; on the CPU the smaller of the
kernel's ``MemAvailable`` and the room left under the process's cgroup limit (containers).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from .errors import D3GMInputError, InputTooLargeError

__all__ = ["MemoryGuard", "available_memory", "layer_output_bytes", "format_bytes", "PEAK_FRACTION"]

#: measured peak / summed layer outputs is 0.29-0.38 for ScoreUNet and ScoreNAFNet on the CPU
#: (benchmarks/memory_guard.py); 0.5 keeps a margin for allocator overhead and convolution workspaces
PEAK_FRACTION = 0.5
#: image-sized tensors the sampler holds besides the network: x_t, μ, x̂0, noise, x_{t-1}, input (2), output
SAMPLER_COPIES = 8
#: spatial edges of the two probes (multiples of 16, the networks' down-sampling factor)
PROBE_SIZES = (32, 64)


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable string (MiB below 1 GiB, else GiB)."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def _cgroup_room() -> int | None:
    """Bytes left under the cgroup (v2 or v1) memory limit, or None without a limit."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            limit_text = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit_text == "max" or int(limit_text) >= 2**60:
            return None
        return max(int(limit_text) - usage, 0)
    return None


def available_memory(device: str | torch.device = "cpu") -> int | None:
    """Bytes ``device`` can still allocate, or None when the platform does not say.

    CUDA: the free memory of the device (``torch.cuda.mem_get_info``). CPU: the smaller of ``MemAvailable``
    (``/proc/meminfo``) and the room under the cgroup memory limit; elsewhere ``psutil`` when it is installed.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    if not found:
        try:
            import psutil

            found.append(int(psutil.virtual_memory().available))
        except ImportError:
            pass
    room = _cgroup_room()
    if room is not None:
        found.append(room)
    return min(found) if found else None


def layer_output_bytes(network: torch.nn.Module, inputs: Sequence[Any]) -> int:
    """Sum of the bytes of every leaf layer's tensor outputs during one no-grad ``network(*inputs)``."""
    total = 0

    def hook(_module, _args, output) -> None:
        nonlocal total
        outputs = output if isinstance(output, (tuple, list)) else (output,)
        total += sum(o.numel() * o.element_size() for o in outputs if isinstance(o, torch.Tensor))

    leaves = [m for m in network.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            network(*inputs)
    finally:
        for h in handles:
            h.remove()
    return total


class MemoryGuard:
    """Check that sampling a batch fits in memory, and find the largest batch that does.

    Args:
        budget: bytes the sampler may use; None: :func:`available_memory` of the input's device at each check,
            times ``fraction``.
        fraction: the share of the available memory that may be used (when ``budget`` is None).
        peak_fraction: the measured peak over the summed layer outputs (see :data:`PEAK_FRACTION`).
    """

    def __init__(self, budget: int | None = None, fraction: float = 0.9, peak_fraction: float = PEAK_FRACTION) -> None:
        if budget is not None and budget <= 0:
            raise D3GMInputError(f"memory budget must be a positive number of bytes, got {budget}.")
        if not 0 < fraction <= 1:
            raise D3GMInputError(f"fraction of the available memory must lie in (0, 1], got {fraction}.")
        self.budget = budget
        self.fraction = fraction
        self.peak_fraction = peak_fraction
        self._probes: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def budget_for(self, device: str | torch.device) -> int | None:
        """The bytes allowed on ``device`` now (None: unknown, no check)."""
        if self.budget is not None:
            return int(self.budget)
        free = available_memory(device)
        return None if free is None else int(free * self.fraction)

    def _probe(
        self, network: Callable[..., torch.Tensor], channels: int, spatial_dims: int, device: torch.device
    ) -> tuple[float, float] | None:
        """(bytes at the larger probe, growth exponent in the number of pixels) for batch 1, cached per network."""
        if not isinstance(network, torch.nn.Module) or next(network.parameters(), None) is None:
            return None  # a callable or a parameter-free stand-in: nothing to probe
        key = (channels, spatial_dims, device.type)
        cache = self._probes.setdefault(network, {})
        if key not in cache:
            sizes = []
            dtype = next((p.dtype for p in network.parameters() if p.is_floating_point()), torch.float32)
            training = network.training
            network.eval()  # no running statistics are updated by the probe
            try:
                for edge in PROBE_SIZES:
                    x = torch.zeros((1, 2 * channels, *([edge] * spatial_dims)), device=device, dtype=dtype)
                    sizes.append(layer_output_bytes(network, (x, torch.ones(1, dtype=torch.long, device=device))))
            except Exception:  # a network that cannot run at the probe's size (or takes other inputs): no check
                cache[key] = None
                return None
            finally:
                network.train(training)
            ratio = (PROBE_SIZES[1] / PROBE_SIZES[0]) ** spatial_dims
            exponent = min(max(math.log(max(sizes[1], 1) / max(sizes[0], 1)) / math.log(ratio), 1.0), 2.0)
            cache[key] = (float(sizes[1]), exponent)
        return cache[key]

    def estimate(
        self, network: Callable[..., torch.Tensor], shape: Sequence[int], device: str | torch.device = "cpu"
    ) -> int | None:
        """Peak bytes of sampling a batch of ``shape`` = (B, C, *spatial) with ``network`` (None: cannot tell)."""
        shape = tuple(int(s) for s in shape)
        device = torch.device(device)
        probe = self._probe(network, shape[1], len(shape) - 2, device)
        if probe is None:
            return None
        probe_bytes, exponent = probe
        pixels, probe_pixels = math.prod(shape[2:]), PROBE_SIZES[1] ** (len(shape) - 2)
        per_item = self.peak_fraction * probe_bytes * (pixels / probe_pixels) ** exponent
        state = SAMPLER_COPIES * math.prod(shape[1:]) * 4
        return int(shape[0] * (per_item + state))

    def check(
        self,
        network: Callable[..., torch.Tensor],
        shape: Sequence[int],
        device: str | torch.device = "cpu",
        fix: str = "restore fewer images per batch or smaller tiles",
    ) -> None:
        """Raise :class:`InputTooLargeError` when sampling a batch of ``shape`` would not fit.

        Args:
            network: the score network.
            shape: the batch's (B, C, *spatial).
            device: where it runs.
            fix: what the caller can change, named in the message.
        """
        need = self.estimate(network, shape, device)
        allowed = self.budget_for(device)
        if need is None or allowed is None or need <= allowed:
            return
        raise InputTooLargeError(
            f"sampling a batch of shape {tuple(shape)} needs about {format_bytes(need)} but only "
            f"{format_bytes(allowed)} is available on {torch.device(device).type}; {fix}, run on a device with more "
            "memory, or set the inferer's memory_budget (bytes) if you know the estimate is too cautious."
        )

    def max_batch(
        self, network: Callable[..., torch.Tensor], item_shape: Sequence[int], wanted: int, device: str | torch.device
    ) -> int:
        """The largest batch size <= ``wanted`` whose sampling fits (``wanted`` when the size cannot be estimated).

        Raises:
            InputTooLargeError: not even one item fits.
        """
        one = self.estimate(network, (1, *item_shape), device)
        allowed = self.budget_for(device)
        if one is None or allowed is None:
            return wanted
        if one > allowed:
            self.check(network, (1, *item_shape), device, fix="crop or resample the input")
        return max(1, min(wanted, allowed // max(one, 1)))
