"""What an editable gr.Dataframe hands a handler, as plain rows."""

from __future__ import annotations

from typing import Any


def dataframe_rows(value: Any) -> list[list[Any]]:
    """The rows of a gr.Dataframe's value: Gradio passes a pandas DataFrame, tests and older callers lists."""
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "columns"):
        return value.values.tolist()
    return [list(row) for row in value]
