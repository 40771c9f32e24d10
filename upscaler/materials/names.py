"""The maps a material set can hold, in the order they are made (light: the job parameters use it)."""

MAP_NAMES = ("basecolor", "height", "normal", "ao", "roughness", "metallic")
