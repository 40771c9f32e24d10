"""One plane's tiles through the network, blended, into the head of its row chain.

Two ways to run them, the same output (within a level: the same floats summed in another order):

- :func:`run_on_host`: each batch's output comes back to the host, where RowAssembler blends it
  (NumPy); one batch ahead, so on CUDA the device runs batch k+1 while the host blends batch k.
- :func:`run_on_device`: blending stays on the torch device (CUDA), and the host only stacks
  windows; it never waits for the device inside its turn.

Each batch runs through a :class:`TileNetwork` (engine/tile_network.py): one network, or the
detail blend's two, mixed per batch before the assembler sees it, each network in the precision
the TileNetwork fixes for this image. They raise :class:`BrokenOutput` when a batch came out
broken in a reduced precision (engine/network.py): the host path at once, the device path after
the last batch, since reading the verdict waits for the device. They never retry; the engine
does (engine.py), with a fresh chain.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Callable

import numpy as np

from upscaler.engine.row_sink import RowSink
from upscaler.engine.tile_network import TileNetwork, read_verdicts
from upscaler.engine.tiling import RowAssembler, Tile, TilePlan

if TYPE_CHECKING:
    from upscaler.engine.network_contract import LoadedNetwork

Turn = Callable[[], AbstractContextManager]  # holds the device while a plane's tiles are queued
Advance = Callable[[int], None]  # told how many more tiles are done


class BrokenOutput(Exception):
    """A batch came out NaN/inf or black in a reduced precision; ``networks``: whose output did."""

    def __init__(self, networks: tuple[LoadedNetwork, ...]) -> None:
        super().__init__(", ".join(net.name for net in networks))
        self.networks = networks


def run_on_host(tiles: TileNetwork, source: np.ndarray, plan: TilePlan, batch_size: int,
                sink: RowSink, advance: Advance, turn: Turn) -> None:
    """``source``: the 8/16-bit gray or BGR plane; ``sink`` gets float RGB rows on the host and is
    closed after the last one."""
    assembler = RowAssembler(plan, tiles.scale, 3, sink)
    maxval = float(np.iinfo(source.dtype).max)
    pending = None

    def finish(batch, running) -> None:
        outputs, broken = running.result()
        if broken:
            raise BrokenOutput(broken)
        for tile, output in zip(batch, outputs):
            assembler.add(tile, output)
        advance(len(batch))

    with turn():
        for batch in batches(plan, batch_size):
            running = tiles.submit(window_stack(source, plan, batch, maxval))
            if pending:
                finish(*pending)
            pending = (batch, running)
        if pending:
            finish(*pending)
    sink.close()


def run_on_device(tiles: TileNetwork, source: np.ndarray, plan: TilePlan, batch_size: int,
                  sink: RowSink, advance: Advance, turn: Turn) -> None:
    """As :func:`run_on_host`, but ``sink`` gets float RGB rows as tensors on the network's device
    (torch networks only)."""
    import torch

    assembler = RowAssembler(plan, tiles.scale, 3, sink, device=tiles.device)
    maxval = float(np.iinfo(source.dtype).max)
    verdicts = []
    with turn(), torch.inference_mode():
        for batch in batches(plan, batch_size):
            outputs, broken = tiles.launch_on_device(window_stack(source, plan, batch, maxval))
            for tile, output in zip(batch, outputs):
                assembler.add(tile, output)
            verdicts += broken
            advance(len(batch))
    # Outside the turn: the next image's batches queue behind this one's last ones while this
    # thread waits for the verdicts and its rows to come back.
    broken = read_verdicts(verdicts)
    if broken:
        raise BrokenOutput(broken)
    sink.close()


def batches(plan: TilePlan, size: int) -> list[list[Tile]]:
    tiles = list(plan.tiles())
    return [tiles[first : first + size] for first in range(0, len(tiles), size)]


def window_stack(source: np.ndarray, plan: TilePlan, batch: list[Tile], maxval: float) -> np.ndarray:
    """The batch's windows as float RGB in 0..1, made only when the batch runs: the host never
    holds a float copy of the whole input next to the output."""
    win_h, win_w = plan.rows.window, plan.cols.window
    return np.stack([_to_rgb_float(source[t.y : t.y + win_h, t.x : t.x + win_w], maxval) for t in batch])


def _to_rgb_float(color: np.ndarray, maxval: float) -> np.ndarray:
    if color.ndim == 2:
        return np.repeat((color.astype(np.float32) / maxval)[:, :, None], 3, axis=2)
    return np.ascontiguousarray(color[:, :, ::-1], dtype=np.float32) / np.float32(maxval)
