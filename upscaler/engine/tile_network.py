"""What one image's tiles run through: one network, or a weighted mix of networks (the detail blend).

A job's ``detail`` mixes a texture model into the model: every tile batch runs through both and
their outputs are mixed ``(1 - detail) * model + detail * detail_model`` right there, before the
tiles are blended into rows. Tile blending is linear too, so this is the mix of the two finished
images (to the rounding), without a second pass over the image or a second full-size output.

A :class:`TileNetwork` is made per image and fixes the precision each of its networks runs in for
that image: each network's own (engine/network.py) for the first run, fp32 for every one of them
in a redo (:meth:`TileNetwork.in_fp32`). Which network came out broken is reported per network,
so the engine (engine.py) sends only those to fp32 for good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple, Sequence

import numpy as np

from upscaler.engine.network_contract import LoadedNetwork, PendingResult
from upscaler.engine.options import EngineOptions

if TYPE_CHECKING:  # the device path only (torch networks on CUDA)
    import torch


class Part(NamedTuple):
    network: LoadedNetwork
    weight: float    # its share of the mix; the weights sum to 1
    precision: str   # what this image runs it in


class TileNetwork:
    def __init__(self, parts: Sequence[Part]) -> None:
        if len({part.network.scale for part in parts}) != 1:
            described = " and ".join(f"{part.network.name} (x{part.network.scale})" for part in parts)
            raise ValueError(f"a detail blend needs models of one scale: {described} differ")
        self.parts = tuple(parts)
        self.scale = parts[0].network.scale
        self.device = parts[0].network.device

    @classmethod
    def for_job(cls, options: EngineOptions, load: Callable[[str], LoadedNetwork]) -> TileNetwork:
        """The job's model, its detail model, or both mixed by ``options.detail``, each network
        in its own precision; ``load``: a model name or path -> its network (loaded once)."""
        detail = options.detail if options.detail_model != options.model else 0.0
        if detail == 0.0:  # the detail model is not even loaded
            weighted = [(options.model, 1.0)]
        elif detail == 1.0:  # the same result as the mix, at the cost of one network
            weighted = [(options.detail_model, 1.0)]
        else:
            weighted = [(options.model, 1.0 - detail), (options.detail_model, detail)]
        networks = [(load(model), weight) for model, weight in weighted]
        return cls([Part(net, weight, net.precision) for net, weight in networks])

    @property
    def networks(self) -> tuple[LoadedNetwork, ...]:
        return tuple(part.network for part in self.parts)

    @property
    def reduced(self) -> bool:
        """Whether any network runs in a reduced precision (so its output may come out broken)."""
        return any(part.precision != "fp32" for part in self.parts)

    def in_fp32(self) -> TileNetwork:
        """The same mix with every network in fp32: a redo's, exactly an fp32 run's."""
        return TileNetwork([part._replace(precision="fp32") for part in self.parts])

    def submit(self, batch: np.ndarray) -> PendingMix:
        """Start the batch through every network (on CUDA returning at once, as Network.submit)."""
        return PendingMix(self.parts, [part.network.submit(batch, part.precision) for part in self.parts])

    def launch_on_device(self, batch: np.ndarray) -> tuple[torch.Tensor, list[tuple[LoadedNetwork, torch.Tensor]]]:
        """Queue the batch through every network: the mixed output on the device, and the verdicts
        of the networks in a reduced precision (see Network.launch_on_device; read them late)."""
        mixed, verdicts = None, []
        for part in self.parts:
            output, broken = part.network.launch_on_device(batch, part.precision)
            if broken is not None:
                verdicts.append((part.network, broken))
            if len(self.parts) == 1:
                mixed = output
            elif mixed is None:
                mixed = output.mul_(part.weight)  # the network's own fresh output: free to reuse
            else:
                mixed.add_(output, alpha=part.weight)
        return mixed, verdicts


class PendingMix:
    """A batch on its way through the networks of a mix (see network.PendingBatch)."""

    def __init__(self, parts: tuple[Part, ...], pending: list[PendingResult]) -> None:
        self._parts, self._pending = parts, pending

    def result(self) -> tuple[np.ndarray, tuple[LoadedNetwork, ...]]:
        """The mixed output on the host, and the networks whose output came out broken."""
        results = [pending.result() for pending in self._pending]
        broken = tuple(part.network for part, (_, bad) in zip(self._parts, results) if bad)
        if len(results) == 1:
            return results[0][0], broken
        mixed = None
        for part, (output, _) in zip(self._parts, results):
            np.multiply(output, np.float32(part.weight), out=output)  # fresh host memory of its own
            mixed = output if mixed is None else np.add(mixed, output, out=mixed)
        return mixed, broken


def read_verdicts(verdicts: list[tuple[LoadedNetwork, torch.Tensor]]) -> tuple[LoadedNetwork, ...]:
    """The networks any of whose verdicts says broken. Reading them waits for the device."""
    import torch

    networks = list(dict.fromkeys(net for net, _ in verdicts))
    if not networks:
        return ()
    per_network = torch.stack([torch.stack([flag for net, flag in verdicts if net is network]).any()
                               for network in networks])
    return tuple(network for network, broken in zip(networks, per_network.tolist()) if broken)
