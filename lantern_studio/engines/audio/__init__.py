"""Audio I/O, loudness, stem sessions, A/B previews and headphone crossfeed."""
