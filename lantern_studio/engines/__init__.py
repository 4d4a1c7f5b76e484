"""Lantern Studio engines: models and domain logic. No UI code lives here (studio/ owns Gradio)."""
