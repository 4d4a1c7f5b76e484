"""A gr.Dataframe value reaches handlers as plain rows, whether Gradio sends a DataFrame or lists."""

from __future__ import annotations

import pandas as pd

from lantern_studio.studio.dataframes import dataframe_rows


def test_a_dataframe_and_its_lists_give_the_same_rows():
    rows = [[1, "小雨", 2.5], [2, "奶奶", None]]
    frame = pd.DataFrame(rows, columns=["#", "cast", "length"])
    from_frame = dataframe_rows(frame)
    assert from_frame[0] == [1, "小雨", 2.5]
    assert from_frame[1][:2] == [2, "奶奶"] and pd.isna(from_frame[1][2])
    assert dataframe_rows(rows) == rows and dataframe_rows([tuple(r) for r in rows]) == rows
    assert dataframe_rows(None) == [] and dataframe_rows(frame.iloc[0:0]) == []
