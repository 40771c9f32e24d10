"""Board-ready materials: a photo made into a tile, cut to whole repeats, checked for PBR.

The shared core's pixels-in, pixels-out step that a job runs on its upscaled image:

    from upscaler.board import BoardOptions, make_board_ready
    out, report = make_board_ready(pixels, BoardOptions(make_tileable=True, repeat="auto", width_mm=600))
    report.as_dict()   # warnings, sizes, crop, period (px and mm), real size, PBR check

``tileable.py`` (the cuts' layout), ``lighting.py`` (the low-frequency mismatch), ``seams.py``
(minimum-error cuts), ``fusion.py`` (gradient-domain fusion of the cuts), ``period.py`` (repeat
detection), ``pbr.py`` (the plausibility check), ``measures.py`` (how well a tile tiles). No
files, storage, queues or torch: numpy, OpenCV, SciPy and PyMaxflow.
"""

from upscaler.board.options import BoardOptions, BoardReport, parse_repeat
from upscaler.board.pbr import PbrCheck, check_pbr
from upscaler.board.period import Period, find_periods
from upscaler.board.ready import has_texture, make_board_ready
from upscaler.board.tileable import AxisLayout, TileResult, make_tile

__all__ = ["AxisLayout", "BoardOptions", "BoardReport", "PbrCheck", "Period", "TileResult", "check_pbr",
           "find_periods", "has_texture", "make_board_ready", "make_tile", "parse_repeat"]
