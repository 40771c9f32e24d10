"""CUDA graphs of the forward pass: one launch per batch instead of one per layer.

RRDBNet x4plus is some 1,200 kernels a pass. Queuing them one by one from Python takes the host
17 ms for one tile and 60 ms for 16 (measured on an H200, bench/network_speed.py), and longer when
a worker's other jobs in flight (decoding, PNG encoding) hold the GIL: the GPU then waits for the
launches. A captured graph replays the whole pass in one call (1.3 ms to queue, the same GPU time).

A graph is tied to one input shape and precision, so one is captured on a shape's second use
(a shape seen once, say the last batch of an odd-sized image, runs eagerly), and the graphs kept
are bounded: their private memory pools, the activations of one pass each, may take at most
``MAX_POOL_SHARE`` of the device's memory per loaded model; the least recently used go first.
A capture that fails (a driver or layer that cannot be captured) turns graphs off for the network
and logs why; everything then runs eagerly as before.

The output of a replay lives in the graph's pool and is overwritten by the graph's next replay:
callers queue whatever reads it (copies, blending) before their next call, which the engine
does, all on one stream.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch

log = logging.getLogger(__name__)

CAPTURE_AFTER = 2        # uses of a shape before it is captured
MAX_POOL_SHARE = 0.25    # of the device's total memory, for all graphs' pools together


@dataclass
class Captured:
    replay: Callable[[], None]
    static_in: torch.Tensor
    static_out: torch.Tensor
    pool_bytes: int


class GraphCache:
    def __init__(self, name: str, device: torch.device, capture_after: int = CAPTURE_AFTER,
                 max_pool_bytes: int | None = None) -> None:
        self.name, self.device, self.capture_after = name, device, capture_after
        if max_pool_bytes is None:
            max_pool_bytes = int(MAX_POOL_SHARE * torch.cuda.get_device_properties(device).total_memory)
        self.max_pool_bytes = max_pool_bytes
        self.enabled = True
        self._seen: Counter = Counter()
        self._graphs: OrderedDict[tuple, Captured] = OrderedDict()

    def forward(self, net: torch.nn.Module, x: torch.Tensor, precision: str) -> torch.Tensor:
        """``net(x)``, replayed from a graph where there is one (see the module docstring)."""
        if not self.enabled:
            return net(x)
        key = (precision, tuple(x.shape), x.stride())
        entry = self._graphs.get(key)
        if entry is None:
            self._seen[key] += 1
            if self._seen[key] < self.capture_after:
                return net(x)
            try:
                entry = self.capture(net, x)
            except Exception as exc:  # noqa: BLE001 - any capture failure means: run eagerly
                log.warning("%s: CUDA graph capture failed (%s); running without graphs", self.name, exc)
                self.enabled = False
                self._graphs.clear()
                return net(x)
            self._graphs[key] = entry
            self._evict()  # (a graph larger than the whole budget is used this once, then dropped)
            return entry.static_out  # the capture's own replay already computed it
        self._graphs.move_to_end(key)
        entry.static_in.copy_(x)
        entry.replay()
        return entry.static_out

    def capture(self, net: torch.nn.Module, x: torch.Tensor) -> Captured:
        """Capture one pass of ``net`` on ``x``'s shape; leaves ``net(x)`` in the output."""
        reserved = torch.cuda.memory_reserved(self.device)
        static_in = x.clone()
        # Warm up on a side stream first, as CUDA requires: cuDNN picks its kernels for the shape
        # outside the capture.
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            net(static_in)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # thread_local: the worker's other threads may copy rows back meanwhile (not captured).
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = net(static_in)
        graph.replay()
        pool = max(0, torch.cuda.memory_reserved(self.device) - reserved)
        log.info("%s: captured a CUDA graph for %s (%s), pool %.2f GiB", self.name, tuple(x.shape), x.dtype,
                 pool / 2**30)
        return Captured(graph.replay, static_in, static_out, pool)

    def _evict(self) -> None:
        while self._graphs and sum(e.pool_bytes for e in self._graphs.values()) > self.max_pool_bytes:
            key, _ = self._graphs.popitem(last=False)
            self._seen[key] = 0  # captured again only after two more uses

    @property
    def shapes(self) -> list[tuple]:
        return list(self._graphs)
