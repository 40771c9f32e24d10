"""Model files: ncnn conversion, architecture detection, safe loading, the named-model store."""
