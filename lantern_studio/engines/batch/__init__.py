"""Batch rendering: a plan of music takes and animatics, run as Ray tasks (``launch.py batch``)."""
