"""Two-stage Real-ESRNet -> A-ESRGAN-Multi training with auto-resume, on its own queue."""
