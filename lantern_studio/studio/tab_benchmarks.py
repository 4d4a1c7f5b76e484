"""Benchmarks tab: run the quick suite, see the table, the ratio chart and the history of earlier runs.

A list of handlers (module-level functions of the studio context and their inputs) that ``build_tab`` lays out
and wires; progress goes through ``studio.job_progress``.
"""

from __future__ import annotations

import gradio as gr

from lantern_studio.benchmarks.chart import ratio_chart
from lantern_studio.benchmarks.runner import FAMILIES, append_history, machine_info, read_history, run_families, table_rows
from lantern_studio.kernels.backend import cuda_available
from lantern_studio.studio.context import GPU_JOBS, StudioContext
from lantern_studio.studio.job_progress import gr_progress

TABLE_HEADERS = ["family", "scenario", "this project", "peers", "ratios (this / peer)", "verdict"]
HISTORY_HEADERS = ["time", "quick", "scenario", "figure", "verdict"]
# fixed shares of the table's width, and wrapped cells: a long scenario or peer list grows its row downwards
# instead of pushing the figures and the verdict off the right edge
TABLE_WIDTHS = ["8%", "24%", "14%", "24%", "20%", "10%"]
HISTORY_WIDTHS = ["15%", "6%", "45%", "20%", "14%"]


def device_choices(has_cuda: bool) -> list[str]:
    """The devices the benchmarks can run on here: "cuda" only where numba sees a real GPU."""
    return ["auto", "cpu", "cuda"] if has_cuda else ["auto", "cpu"]


def history_rows(ctx: StudioContext) -> list[list[str]]:
    """One row per measured scenario of every earlier run, newest run first."""
    rows = []
    for run in reversed(read_history(ctx.settings.bench_history)):
        for line in table_rows(run["rows"]):
            rows.append([run["time"].replace("T", " "), "yes" if run.get("quick") else "no", f"{line[0]}: {line[1]}",
                         line[2], line[5]])
    return rows


def machine_text() -> str:
    m = machine_info()
    return (f"**Machine:** {m['cpu']}, {m['cores']} cores, {m.get('gpu') or 'no GPU'} · "
            f"torch {m.get('torch')} · numba {m.get('numba')}")


def run_quick(ctx: StudioContext, selected: list[str], chosen_device: str, progress=gr.Progress()) -> tuple:
    """Run the quick suite of the chosen families: (table rows, ratio chart, history rows with this run)."""
    if not selected:
        raise gr.Error("Pick at least one benchmark family.")
    rows = run_families(selected, quick=True, device=chosen_device, progress=gr_progress(progress))
    append_history(ctx.settings.bench_history, rows, machine_info(), quick=True)
    return table_rows(rows), ratio_chart(rows), history_rows(ctx)


def build_tab(ctx: StudioContext) -> None:
    gr.Markdown("Measure whether this machine mixes, renders and generates in real time, and how it compares "
                "with the tools you would otherwise use (measured in the same run). The quick suite takes about "
                "a minute; `python launch.py bench` runs the full one.")
    gr.Markdown(machine_text(), elem_id="bench-machine")
    with gr.Row():
        families = gr.CheckboxGroup(list(FAMILIES), value=list(FAMILIES), label="Families", elem_id="bench-families")
        has_cuda = cuda_available()
        device = gr.Radio(device_choices(has_cuda), value="auto", label="Device", elem_id="bench-device",
                          info=None if has_cuda else "no CUDA GPU found on this machine, so the kernels run on the CPU")
    run_button = gr.Button("Run quick benchmarks", variant="primary", elem_id="bench-run")
    table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, wrap=True, column_widths=TABLE_WIDTHS,
                         elem_id="bench-table")
    chart = gr.Image(label="Ratios against the peers (log scale)", show_label=False, type="pil",
                     elem_id="bench-chart", interactive=False)
    with gr.Accordion("History", open=False):
        history = gr.Dataframe(value=lambda: history_rows(ctx), headers=HISTORY_HEADERS, interactive=False,
                               wrap=True, column_widths=HISTORY_WIDTHS, elem_id="bench-history")
    run_button.click(ctx.bind(run_quick), inputs=[families, device], outputs=[table, chart, history],
                     concurrency_id=GPU_JOBS, api_name="bench")
