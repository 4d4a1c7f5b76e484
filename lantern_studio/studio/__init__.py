"""Lantern Studio's Gradio UI: one module per tab, thin handlers that call engines/."""
