"""``upscaler upscale`` keeps a few images in flight (upscaler/in_flight.py): the others are read,
decoded, encoded and written while one is on the device. The output must not notice: the same
pixels as one image at a time, results in the inputs' order, a bad image reported and skipped."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.support import texture
from upscaler.engine import Engine
from upscaler.in_flight import map_in_flight
from upscaler.jobspec import JobRequest
from upscaler.processing import limits_from, upscale_image
from upscaler.settings import get_settings
from upscaler.zoo.registry import ModelZoo


class Gauge:
    """How many calls are inside at once, and the most there ever were."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.now -= 1


def test_results_come_in_the_items_order_whichever_finishes_first() -> None:
    gauge = Gauge()

    def work(delay: float) -> float:
        with gauge:
            time.sleep(delay)
        return delay

    delays = [0.2, 0.01, 0.15, 0.0, 0.05, 0.1, 0.0]
    assert list(map_in_flight(work, delays, 3)) == delays
    assert gauge.most == 3  # the later, faster ones ran beside the first, not after it


def test_items_are_taken_lazily_at_most_ahead_of_the_caller() -> None:
    taken: list[int] = []

    def items():
        for index in range(100):
            taken.append(index)
            yield index

    results = map_in_flight(lambda index: index, items(), 2, ahead=4)
    assert next(results) == 0
    assert len(taken) <= 5  # the window of 4 and the one that filled it, not the whole folder
    results.close()
    assert len(taken) <= 5


def test_a_failure_is_raised_at_its_turn_and_stops_the_rest() -> None:
    started: list[int] = []

    def work(index: int) -> int:
        started.append(index)
        if index == 2:
            raise ValueError("item 2 is broken")
        return index

    results = map_in_flight(work, range(50), 2, ahead=2)
    assert [next(results), next(results)] == [0, 1]
    with pytest.raises(ValueError, match="item 2 is broken"):
        next(results)
    assert max(started) < 10


def test_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(map_in_flight(lambda x: x, [1], 0))


def test_pipelined_upscale_gives_each_images_own_pixels_in_input_order(tmp_path: Path,
                                                                        tiny_srvgg: Path) -> None:
    src = tmp_path / "swatches"
    (src / "tiles").mkdir(parents=True)
    images = {  # mixed sizes (one tile, several tiles, odd edges), colour, gray and alpha
        "a_slate.png": texture(40, 52, seed=1),
        "b_oak.png": texture(12, 9, seed=2),
        "c_broken.png": None,
        "d_grey.png": texture(33, 21, channels=1, seed=3),
        "tiles/e_glass.png": texture(20, 30, channels=4, seed=4),
        "tiles/f_wool.png": texture(64, 16, seed=5),
    }
    for name, pixels in images.items():
        if pixels is None:
            (src / name).write_bytes(b"\x89PNG\r\n\x1a\n truncated in transfer")
        else:
            cv2.imwrite(str(src / name), pixels)
    out = tmp_path / "out"
    # --material none: compared with the engine's plain output (a "tiles" folder would run its profile).
    options = ["--model", str(tiny_srvgg), "--tile", "16", "--device", "cpu", "--precision", "fp32",
               "--material", "none"]
    result = CliRunner().invoke(app, ["upscale", str(src), "-o", str(out), *options, "--in-flight", "3",
                                      "--json"])

    assert result.exit_code == 1, result.output  # the broken one fails the run, after the others
    report = json.loads(result.stdout)
    assert [Path(r["input"]).relative_to(src).as_posix() for r in report["results"]] == list(images)
    assert report["images"] == 5 and report["failed"] == 1
    broken = report["results"][2]
    assert "c_broken.png" in broken["error"] and "output" not in broken

    alone = Engine(ModelZoo(tmp_path / "models"), "cpu", "fp32")
    params = JobRequest.from_settings(get_settings(), model=str(tiny_srvgg), tile=16)
    for name, row in zip(images, report["results"]):
        if images[name] is None:
            continue
        expected = upscale_image(alone, (src / name).read_bytes(), name, params, limits_from(get_settings()))
        written = cv2.imread(row["output"], cv2.IMREAD_UNCHANGED)
        assert row["output"] == str(out / name)
        assert row["output_size"] == list(expected.output_size)
        np.testing.assert_array_equal(written, expected.pixels, err_msg=name)


@pytest.mark.parametrize("in_flight", [1, 3])
def test_upscale_keeps_at_most_in_flight_images_at_once(tmp_path: Path, tiny_srvgg: Path, monkeypatch,
                                                       in_flight: int) -> None:
    import upscaler.processing

    gauge, decode_and_upscale = Gauge(), upscaler.processing.upscale_image

    def counted(*args, **kwargs):
        with gauge:
            time.sleep(0.05)  # long enough for the others in flight to arrive
            return decode_and_upscale(*args, **kwargs)

    monkeypatch.setattr(upscaler.processing, "upscale_image", counted)
    for index in range(5):
        cv2.imwrite(str(tmp_path / f"{index}.png"), texture(8, 8, seed=index))
    result = CliRunner().invoke(app, ["upscale", *(str(tmp_path / f"{i}.png") for i in range(5)), "-o",
                                      str(tmp_path / "out"), "--model", str(tiny_srvgg), "--device", "cpu",
                                      "--precision", "fp32", "--in-flight", str(in_flight)])
    assert result.exit_code == 0, result.output
    assert "5 images upscaled, 0 failed" in result.stderr
    assert gauge.most == in_flight
