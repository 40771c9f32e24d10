"""The job request: one part per owner, a canonical form that keeps every stored idempotency key,
and no field that enters (or stays out of) the key without a decision."""

from __future__ import annotations

import dataclasses

import pytest

from upscaler.engine.options import EngineOptions
from upscaler.errors import InvalidParameters
from upscaler.jobspec import CANONICAL, PART_TYPES, JobRequest, Key, UndecidedField, field_default, idempotency_key
from upscaler.materials.controls import CONTROL_NAMES, MapControls
from upscaler.materials.options import MapOptions

# Keys made by the code that stored the jobs before the request was split by owner (JobParams of
# 8fb07d1), for these requests and sources: a job resubmitted must still find its row.
EVERY_FIELD = dict(model="realesrgan-x4plus", tile=0, tile_pad=0, outscale=3.5, alpha="model", format="webp",
                   quality=80, seamless=True, preserve_color=True, batch_size=4, color_space="keep",
                   maps=("normal", "height"), material="fabric", normal_convention="directx", delight=True,
                   detail=0.25, detail_model="realesr-animevideov3", profile="fabric", fixed=("detail", "model"))
REQUESTS = {
    "defaults": {},
    "tiles_and_format": dict(model="realesr-animevideov3", tile=128, tile_pad=10, outscale=2.0, format="jpeg",
                             quality=90),
    "every_field_set": EVERY_FIELD,
    "maps_all": dict(maps="all", material="wood"),
    # stored by the flat JobParams once it had the board-ready fields (536ecc8)
    "board_ready": dict(maps="all", material="tile", make_tileable=True, repeat="4 X 3", width_mm=600),
    "board_auto_repeat": dict(repeat="auto"),
}
SOURCES = [("s3://b/in/a.png", '"etag-1"', "s3://b/out/a.png"), ("/data/in/b.jpg", None, "/data/out/b.webp")]
STORED_KEYS = {
    "defaults": ["26285b333ac9bd17d1c2be1b1ccdc258fca1b4f9a7542160bc92b1e7ed58358e",
                 "13baa696fb19e295bff718e43bf25eced626e8a379bcb38320de16cf83da42e3"],
    "tiles_and_format": ["dc16e13e3af720d04a16c3c18acf98fe4ff2bb434a2d1908eb2f83f8b8370f99",
                         "e1031d69b932304e630830b838d53137206e14763ee5c5e1f17d49bd86ae7b6e"],
    "every_field_set": ["af9f0afc9b29b58e06fa740db93935993ef7dccc34a3da7eefb41452d6ffa2a5",
                        "e7a6bb38bfc23e711e91af5b911003d764237c4de72f571a5a12a74e81e8d6fe"],
    "maps_all": ["b9a05b7035f99c197b9380b6f9746bee3f97250d7ac40ca7d3582c40a9d6ddb6",
                 "ec1ae4bf6eaa60727d1f2e477190611960666fed9bfc080136ba9174fc6514c2"],
    "board_ready": ["b8a209871df4206342e3fc61229d3ea3cbc7588eb0524775263959ce31dd8336",
                    "aad70ed24dfe682256592142932de72da492bf0ab18ba75f66408f1b61f57660"],
    "board_auto_repeat": ["68028364408a25672e599277aeea32dde5d8440aff3838b3e49b6ebc4494a5a9",
                          "3dc5a76564deac396658ea8f3921bd7aba247120b42d43d4ec11967641ecdcdb"],
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_stored_idempotency_keys_still_match(name: str) -> None:
    request = JobRequest.from_fields(**REQUESTS[name])
    made = [idempotency_key(source, etag, request, out) for source, etag, out in SOURCES]
    assert made == STORED_KEYS[name]
    # and what the table stores reads back as the same request (the batch size is the worker's)
    again = JobRequest.from_json(request.to_json(), request.model)
    assert again == dataclasses.replace(request, engine=dataclasses.replace(request.engine, batch_size=None))


def test_every_field_of_every_part_is_placed_in_the_canonical_form() -> None:
    for part, owner in PART_TYPES.items():
        assert {f.name for f in dataclasses.fields(owner)} == set(CANONICAL[part]), part
    own = {f.name for f in dataclasses.fields(JobRequest)} - set(PART_TYPES)
    assert own == set(CANONICAL["job"])


def test_a_field_added_without_a_decision_fails_every_request() -> None:
    Sharper = dataclasses.make_dataclass("EngineOptions", [("sharpen", float, 0.0)], bases=(EngineOptions,),
                                         frozen=True)
    request = JobRequest(engine=Sharper())
    with pytest.raises(UndecidedField, match="sharpen"):
        idempotency_key("a.png", None, request, "out/a.png")


def test_each_owner_gets_its_part_and_checks_it() -> None:
    request = JobRequest.from_fields(tile=64, format="png", maps="normal,height", material="wood", detail=0.5)
    assert request.engine == EngineOptions(tile=64, detail=0.5)
    assert request.output.format == "png" and request.maps.maps == ("height", "normal")
    assert request.material == "wood" and request.model == request.engine.model
    for bad, words in [({"tile": -1}, "tile"), ({"quality": 0}, "quality"), ({"maps": "shiny"}, "shiny"),
                       ({"color_space": "cmyk"}, "color_space"), ({"frobnicate": 1}, "frobnicate")]:
        with pytest.raises(InvalidParameters, match=words):
            JobRequest.from_fields(**bad)
    with pytest.raises(InvalidParameters, match="ao_radius"):
        JobRequest(maps=MapOptions(maps=(), ao_radius=0.01))  # the preset's, not the job's
    with pytest.raises(InvalidParameters, match="normal_bits"):
        JobRequest.from_fields(normal_bits=12)
    with pytest.raises(InvalidParameters, match="unknown job parameters: tiles"):
        JobRequest.from_json({"tiles": 3})


def test_defaults_are_read_off_the_dataclasses() -> None:
    assert field_default("tile") == EngineOptions.tile and field_default("quality") == 95
    assert field_default("maps") == () and field_default("material") is None


def test_the_board_ready_fields_are_the_board_parts_and_flat_truth_tests_fail_loudly() -> None:
    request = JobRequest.from_fields(repeat="4 X 3", width_mm=600, maps="all")
    assert (request.board.repeat, request.board.width_mm, request.board_ready) == ("4x3", 600.0, True)
    assert request.makes_maps and not JobRequest().makes_maps and not JobRequest().board_ready
    # ``if request.maps:`` read the flat tuple once; the options object must not answer it silently
    with pytest.raises(TypeError, match="makes_maps"):
        bool(JobRequest().maps)


def test_the_map_controls_are_the_map_options_a_job_sets_stored_as_one_object_when_set() -> None:
    decided = {name for name, key in CANONICAL["maps"].items() if key is Key.MAP_CONTROL}
    assert decided == set(CONTROL_NAMES)
    plain = JobRequest.from_fields(maps="normal")
    assert "map_controls" not in plain.to_json()
    # at their defaults they are not set: the stored form, and so the key, stays
    assert JobRequest.from_fields(maps="normal", map_controls={"normal_bits": 8}).to_json() == plain.to_json()
    deep = JobRequest.from_fields(maps="normal", depth=0.01, invert_height=True)
    assert deep.maps.controls == MapControls(invert_height=True, depth=0.01)
    assert deep.to_json() == {**plain.to_json(), "map_controls": {"invert_height": True, "depth": 0.01}}
    assert JobRequest.from_json(deep.to_json(), deep.model) == deep
    keys = {idempotency_key("a.png", None, r, "out/a.png") for r in (plain, deep)}
    assert len(keys) == 2
