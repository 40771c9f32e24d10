"""The CUDA graph cache's bookkeeping (engine/graphs.py), with a stand-in for the capture: when a
shape is captured, replayed, evicted, and what a failed capture does. The capture itself needs a
GPU: bench/gpu.sh runs the engine with it."""

from __future__ import annotations

import pytest
import torch

from upscaler.engine.graphs import Captured, GraphCache


class RecordingGraphs(GraphCache):
    """Captures by running the network into a fixed output tensor; replays recompute into it."""

    def __init__(self, pool_bytes: int = 100, max_pool_bytes: int = 1000) -> None:
        super().__init__("test-net", torch.device("cpu"), max_pool_bytes=max_pool_bytes)
        self.pool_bytes, self.captures, self.replays, self.fail = pool_bytes, 0, 0, False

    def capture(self, net, x) -> Captured:
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.captures += 1
        static_in = x.clone()
        static_out = net(static_in)

        def replay() -> None:
            self.replays += 1
            static_out.copy_(net(static_in))

        return Captured(replay, static_in, static_out, self.pool_bytes)


@pytest.fixture
def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv2d(3, 4, 3, padding=1).eval()


def run(graphs: GraphCache, net, shape=(2, 3, 8, 8), precision: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(shape)
    with torch.inference_mode():
        return graphs.forward(net, x, precision).clone(), net(x)


def test_a_shape_runs_eagerly_once_then_is_captured_then_replayed(net) -> None:
    graphs = RecordingGraphs()
    for call in range(4):
        got, expected = run(graphs, net)
        torch.testing.assert_close(got, expected)  # new input every call: the replay uses it
        assert graphs.captures == (0 if call == 0 else 1)
        assert graphs.replays == max(0, call - 1)
    assert len(graphs.shapes) == 1


def test_each_shape_and_precision_has_its_own_graph(net) -> None:
    graphs = RecordingGraphs()
    for _ in range(2):
        run(graphs, net, (2, 3, 8, 8))
        run(graphs, net, (1, 3, 8, 8))
        run(graphs, net, (2, 3, 8, 8), "fp16-labelled")
    assert graphs.captures == 3 and len(graphs.shapes) == 3


def test_pools_over_the_budget_drop_the_least_recently_used(net) -> None:
    graphs = RecordingGraphs(pool_bytes=400, max_pool_bytes=1000)  # room for two
    small, medium, large = (1, 3, 4, 4), (1, 3, 6, 6), (1, 3, 8, 8)
    for shape in (small, small, medium, medium):
        run(graphs, net, shape)
    run(graphs, net, small)  # small is now the most recently used
    for _ in range(2):
        run(graphs, net, large)
    assert [key[1] for key in graphs.shapes] == [small, large]
    captures = graphs.captures
    got, expected = run(graphs, net, medium)  # evicted: eager again, captured on the next use
    torch.testing.assert_close(got, expected)
    assert graphs.captures == captures
    run(graphs, net, medium)
    assert graphs.captures == captures + 1


def test_a_failed_capture_turns_graphs_off_and_runs_eagerly(net, caplog) -> None:
    graphs = RecordingGraphs()
    graphs.fail = True
    for _ in range(3):
        got, expected = run(graphs, net)
        torch.testing.assert_close(got, expected)
    assert not graphs.enabled and graphs.shapes == []
    assert "CUDA graph capture failed" in caplog.text and "not permitted" in caplog.text


def test_networks_on_the_cpu_have_no_graphs(zoo, tiny_srvgg) -> None:
    from upscaler.engine import Engine

    engine = Engine(zoo, "cpu", "fp32")
    assert engine.network(str(tiny_srvgg))._graphs is None
