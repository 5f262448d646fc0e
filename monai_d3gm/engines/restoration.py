# Copyright (c) monai-d3gm contributors
# Licensed under the Apache License, Version 2.0
"""The bundles' inference as a MONAI ``SupervisedEvaluator``: one case per iteration, posterior sampling as the
inferer, writing and metrics as postprocessing.

A bundle's ``inference.json`` wires::

    cases ─ Dataset(preprocessing) ─ DataLoader(batch_size=None) ─ SupervisedEvaluator(
        prepare_batch=RestorationPrepareBatch,      # μ as a batch of one, the sampler's noise, data consistency
        inferer=PosteriorInferer,                   # num_samples samples, (1, N, C, H, W)
        postprocessing=Compose([...]),              # mean / std, back to the input's scale, files, figure, metrics
        val_handlers=[CaseReport],                  # NAME/metrics.json, a line per case, the summary
    )

Cases differ in size, and carry what their writers need (paths, DICOM headers), so they are not collated: the loader
hands each case's dictionary over as it is (``batch_size=None``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from monai.engines.utils import PrepareBatch

from ..noise import ItemNoise, NoiseSource
from ..physics.consistency import DataConsistency

__all__ = ["RestorationPrepareBatch"]

#: builds a case's data consistency: ``factory(case, generator, device)``
DataConsistencyFactory = Callable[[Mapping[str, Any], NoiseSource, torch.device], DataConsistency | None]


class RestorationPrepareBatch(PrepareBatch):
    """Turn one preprocessed case into the call of :class:`~monai_d3gm.inferers.PosteriorInferer`.

    Returns ``(μ[None], reference, (), {"generator": noise, "data_consistency": dc})``: μ as a batch of one on the
    device, the reference as it is (or None), the sampler's noise seeded with ``seed`` and the case's data consistency.

    Args:
        seed: seed of the sampler's noise (the same case and seed give the same output).
        input_key: the network's input (μ, (C, *spatial)).
        reference_key: the reference, if the case has one.
        data_consistency: ``factory(case, generator, device)`` building the case's data consistency (None: none).
        noise: "item" (:class:`~monai_d3gm.noise.ItemNoise`: the draws do not depend on the device or the batch) or
            "generator" (a ``torch.Generator`` on the device).
    """

    def __init__(
        self,
        seed: int = 0,
        input_key: str = "inputs",
        reference_key: str = "reference",
        data_consistency: DataConsistencyFactory | None = None,
        noise: str = "item",
    ) -> None:
        if noise not in ("item", "generator"):
            raise ValueError(f"noise must be 'item' or 'generator', got {noise!r}.")
        self.seed = seed
        self.input_key, self.reference_key = input_key, reference_key
        self.data_consistency = data_consistency
        self.noise = noise

    def __call__(  # type: ignore[override]
        self,
        batchdata: Mapping[str, Any],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, Any, tuple, dict[str, Any]]:
        device = torch.device(device or "cpu")
        inputs = torch.as_tensor(batchdata[self.input_key])[None].to(device, non_blocking=non_blocking, **kwargs)
        if self.noise == "item":
            generator: NoiseSource = ItemNoise([self.seed])
        else:
            generator = torch.Generator(device=device).manual_seed(self.seed)
        dc = None if self.data_consistency is None else self.data_consistency(batchdata, generator, device)
        return inputs, batchdata.get(self.reference_key), (), {"generator": generator, "data_consistency": dc}
