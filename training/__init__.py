"""Two-stage Real-ESRNet -> A-ESRGAN-Multi training with auto-resume (issue #4)."""
