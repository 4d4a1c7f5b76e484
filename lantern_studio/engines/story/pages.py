"""Comic pages from panels, and the files people take elsewhere.

Layouts (``PageSpec.layout``), named rows x columns: ``"2x2"`` (4 panels a page), ``"3x2"`` (3 rows of 2),
``"3x3"`` (9), and ``"webtoon"`` (one column, a long vertical strip for phone reading). ``rtl=True`` reads
right to left within each row (manga order) and marks the CBZ as right-to-left. Each page has margins,
gutters between panels and an ink border round each panel; each panel is lettered on the page: speech
bubbles whose tails point at the speaker, wrapped CJK text in a real CJK font, captions for action and
sound-effect lettering.

Exports: PNG pages, one PDF, a CBZ (a zip of the pages plus ``ComicInfo.xml`` that comic readers use) and a
director's storyboard sheet as a PDF (each shot's panel with its number, size, move, duration, dialogue and
action). Every file is written atomically.
"""

from __future__ import annotations

import datetime as _dt
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageOps

from lantern_studio.engines.atomic import atomic_output_path, atomic_write_text
from lantern_studio.engines.story.model import Shot, Storyboard
from lantern_studio.engines.jobs import check_cancel
from lantern_studio.engines.story.panels import (DEFAULT_PANEL_SIZE, MOVE_LABELS, PanelRenderer, PrevizRenderer,
                                                 RenderedPanel, check_size, letter_panel)
from lantern_studio.engines.story.shots import shots_to_csv
from lantern_studio.engines.story.text import INK, draw_lines, fit_text, get_font

LAYOUTS = {"2x2": (2, 2), "3x2": (3, 2), "3x3": (3, 3), "webtoon": (None, 1)}
A4_150DPI = (1240, 1754)
# page sizes in pixels at 150 dpi (the phone page is a 9:16 screen)
PAGE_SIZES = {"A4": A4_150DPI, "US Letter": (1275, 1650), "B5 (manga)": (1039, 1476), "Phone 9:16": (1080, 1920)}


@dataclass(frozen=True)
class PageSpec:
    """How pages look. Sizes are pixels; ``dpi`` is written into the PDF so A4 at 150 dpi prints as A4."""

    layout: str = "2x2"
    rtl: bool = False
    page_size: tuple[int, int] = A4_150DPI
    margin_px: int = 60
    gutter_px: int = 28
    border_px: int = 5
    dpi: int = 150
    webtoon_width_px: int = 800
    webtoon_panels_per_strip: int = 6
    background: tuple[int, int, int] = (255, 255, 255)

    def validate(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")
        width, height = self.page_size
        if not (200 <= width <= 10000 and 200 <= height <= 10000):
            raise ValueError(f"page size {width}x{height} px is outside 200..10000 px per side")
        if self.margin_px < 0 or self.gutter_px < 0 or self.border_px < 0:
            raise ValueError("margins, gutters and borders must be 0 px or more")
        if 2 * self.margin_px >= min(width, height) / 2:
            raise ValueError(f"a margin of {self.margin_px} px leaves no room for panels on a {width}x{height} page")
        if not 36 <= self.dpi <= 1200:
            raise ValueError(f"dpi {self.dpi} is outside 36..1200")
        if not 200 <= self.webtoon_width_px <= 4000:
            raise ValueError("webtoon_width_px must be 200..4000")
        if self.webtoon_panels_per_strip < 1:
            raise ValueError("webtoon_panels_per_strip must be at least 1")

    @property
    def panels_per_page(self) -> int:
        rows, cols = LAYOUTS[self.layout]
        return self.webtoon_panels_per_strip if rows is None else rows * cols


def cell_boxes(spec: PageSpec, *, panel_aspect: float = 9 / 16) -> list[tuple[int, int, int, int]]:
    """Panel boxes ``(x0, y0, x1, y1)`` of one page **in reading order** (right to left when ``spec.rtl``).

    For ``"webtoon"`` the boxes of one strip: full width, height from ``panel_aspect`` (width / height).
    """
    spec.validate()
    rows, cols = LAYOUTS[spec.layout]
    if rows is None:
        width = spec.webtoon_width_px
        panel_h = int(round(width / panel_aspect))
        gap = spec.gutter_px * 3
        return [(0, spec.margin_px + i * (panel_h + gap), width, spec.margin_px + i * (panel_h + gap) + panel_h)
                for i in range(spec.webtoon_panels_per_strip)]
    page_w, page_h = spec.page_size
    footer = int(spec.margin_px * 0.5)
    usable_w = page_w - 2 * spec.margin_px - (cols - 1) * spec.gutter_px
    usable_h = page_h - 2 * spec.margin_px - footer - (rows - 1) * spec.gutter_px
    cell_w, cell_h = usable_w / cols, usable_h / rows
    boxes = []
    for row in range(rows):
        for index in range(cols):
            col = cols - 1 - index if spec.rtl else index
            x0 = spec.margin_px + col * (cell_w + spec.gutter_px)
            y0 = spec.margin_px + row * (cell_h + spec.gutter_px)
            boxes.append((int(round(x0)), int(round(y0)), int(round(x0 + cell_w)), int(round(y0 + cell_h))))
    return boxes


def cover_crop(image: Image.Image, size: tuple[int, int], anchors: dict[str, tuple[float, float]] | None = None
               ) -> tuple[Image.Image, dict[str, tuple[float, float]]]:
    """Scale and centre-crop ``image`` to fill ``size``; move the anchors the same way."""
    width, height = size
    scale = max(width / image.width, height / image.height)
    new_w, new_h = max(width, int(math.ceil(image.width * scale))), max(height, int(math.ceil(image.height * scale)))
    left, top = (new_w - width) // 2, (new_h - height) // 2
    fitted = image.convert("RGBA").resize((new_w, new_h), Image.Resampling.LANCZOS).crop(
        (left, top, left + width, top + height))
    moved = {name: (x * scale - left, y * scale - top) for name, (x, y) in (anchors or {}).items()}
    return fitted, moved


def _cell_art(shot: Shot, board: Storyboard, size: tuple[int, int], art: dict[int, RenderedPanel] | None,
              renderer: PanelRenderer) -> tuple[Image.Image, dict]:
    if art and shot.number in art:
        panel = art[shot.number]
        return cover_crop(panel.image, size, panel.anchors)
    panel = renderer.render(shot, board, size=size, lettering=False)
    return panel.image.convert("RGBA"), panel.anchors


def compose_pages(board: Storyboard, *, spec: PageSpec = PageSpec(), art: dict[int, RenderedPanel] | None = None,
                  renderer: PanelRenderer | None = None, progress: Callable[[float, str], None] | None = None,
                  cancel=None) -> list[Image.Image]:
    """Lay the board's shots out on pages and letter them.

    Parameters
    ----------
    board : Storyboard
    spec : PageSpec
        Layout, reading direction, page size, margins, gutters, borders.
    art : dict, optional
        Panels already rendered (``{shot number: RenderedPanel}``, e.g. from the diffusers renderer); they are
        scaled to cover their cell. Shots without art are drawn by ``renderer`` at the cell's size.
    renderer : PanelRenderer, optional
        Default: the previz renderer.

    Returns
    -------
    list of PIL.Image.Image
        RGB pages of ``spec.page_size`` (webtoon strips are ``webtoon_width_px`` wide).
    """
    if not isinstance(board, Storyboard) or not board.shots:
        raise ValueError("compose_pages needs a Storyboard with at least one shot; parse a script first")
    spec.validate()
    renderer = renderer or PrevizRenderer()
    per_page = spec.panels_per_page
    shots = board.shots
    aspect = _panel_aspect(art)
    pages: list[Image.Image] = []
    page_count = math.ceil(len(shots) / per_page)
    for page_index in range(page_count):
        check_cancel(cancel, f"cancelled after {len(pages)} of {page_count} pages")
        chunk = shots[page_index * per_page:(page_index + 1) * per_page]
        boxes = cell_boxes(spec, panel_aspect=aspect)[:len(chunk)]
        if spec.layout == "webtoon":
            page = Image.new("RGB", (spec.webtoon_width_px, boxes[-1][3] + spec.margin_px), spec.background)
        else:
            page = Image.new("RGB", spec.page_size, spec.background)
        for shot, box in zip(chunk, boxes):
            size = (box[2] - box[0], box[3] - box[1])
            image, anchors = _cell_art(shot, board, size, art, renderer)
            letter_panel(image, shot, board, anchors, top_px=0)
            page.paste(image.convert("RGB"), box[:2])
            if spec.border_px:
                ImageDraw.Draw(page).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=INK[:3],
                                               width=spec.border_px)
        _footer(page, spec, board, page_index + 1, page_count)
        pages.append(page)
        if progress is not None:
            progress((page_index + 1) / page_count, f"page {page_index + 1}/{page_count}")
    return pages


def _panel_aspect(art: dict[int, RenderedPanel] | None) -> float:
    if art:
        first = next(iter(art.values())).image
        return first.width / first.height
    return DEFAULT_PANEL_SIZE[0] / DEFAULT_PANEL_SIZE[1]


def _footer(page: Image.Image, spec: PageSpec, board: Storyboard, number: int, total: int) -> None:
    if spec.layout == "webtoon" or spec.margin_px < 20:
        return
    font = get_font(max(10, spec.margin_px // 3), language=board.language)
    text = f"{board.title}  ·  {number}/{total}" if board.title else f"{number}/{total}"
    draw = ImageDraw.Draw(page)
    draw.text((page.width / 2, page.height - spec.margin_px * 0.55), text, font=font, fill=(110, 110, 120),
              anchor="mm")


# ------------------------------------------------------------------------------------------------
# exports
# ------------------------------------------------------------------------------------------------


def save_png_pages(pages: list[Image.Image], folder: str | Path, *, prefix: str = "page") -> list[Path]:
    """Write pages as ``page_001.png`` ... in ``folder`` (created if missing); return the paths."""
    if not pages:
        raise ValueError("there are no pages to save; compose pages first")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, page in enumerate(pages, 1):
        final = folder / f"{prefix}_{index:03d}.png"
        with atomic_output_path(final) as temp:
            page.save(temp, format="PNG", dpi=(150, 150))
        paths.append(final)
    return paths


def export_time() -> _dt.datetime:
    """The date stamped into PDFs and CBZs: ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) when set,
    so the same script gives byte-identical files on any machine or worker; else now."""
    import os

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch.isdigit():
        return _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
    return _dt.datetime.now(tz=_dt.timezone.utc)


def save_pdf(pages: list[Image.Image], path: str | Path, *, dpi: int = 150, title: str = "") -> Path:
    """Write the pages into one PDF (one page per image, sized by ``dpi``)."""
    if not pages:
        raise ValueError("there are no pages to save; compose pages first")
    rgb = [p.convert("RGB") for p in pages]
    with atomic_output_path(path) as temp:
        rgb[0].save(temp, format="PDF", save_all=True, append_images=rgb[1:], resolution=float(dpi),
                    title=title or "Storyboard", creator="Lantern Studio", creationDate=export_time().utctimetuple(),
                    modDate=export_time().utctimetuple())
    return Path(path)


def comic_info_xml(board: Storyboard, *, pages: int, rtl: bool) -> str:
    """``ComicInfo.xml`` for the CBZ: title, page count, language and reading direction."""
    manga = "YesAndRightToLeft" if rtl else "No"
    language = "zh" if board.language == "zh" else "en"
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
            "<ComicInfo xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
            "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\n"
            f"  <Title>{escape(board.title or 'Storyboard')}</Title>\n"
            f"  <PageCount>{pages}</PageCount>\n"
            f"  <LanguageISO>{language}</LanguageISO>\n"
            f"  <Manga>{manga}</Manga>\n"
            f"  <Year>{export_time().year}</Year>\n"
            "  <Notes>Made with Lantern Studio</Notes>\n"
            "</ComicInfo>\n")


def save_cbz(pages: list[Image.Image], path: str | Path, *, board: Storyboard, rtl: bool = False) -> Path:
    """Write a CBZ: the pages as ``001.png``... in reading order, plus ``ComicInfo.xml``."""
    if not pages:
        raise ValueError("there are no pages to save; compose pages first")
    import io

    # zip stores local time to the even second, from 1980 on
    stamp = max(export_time().replace(tzinfo=None), _dt.datetime(1980, 1, 1)).timetuple()[:6]
    with atomic_output_path(path) as temp:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_STORED) as archive:
            for index, page in enumerate(pages, 1):
                buffer = io.BytesIO()
                page.convert("RGB").save(buffer, format="PNG")
                archive.writestr(zipfile.ZipInfo(f"{index:03d}.png", date_time=stamp), buffer.getvalue())
            archive.writestr(zipfile.ZipInfo("ComicInfo.xml", date_time=stamp),
                             comic_info_xml(board, pages=len(pages), rtl=rtl), compress_type=zipfile.ZIP_DEFLATED)
    return Path(path)


def director_sheet_pages(board: Storyboard, *, panels: dict[int, Image.Image] | None = None,
                         renderer: PanelRenderer | None = None, page_size: tuple[int, int] = A4_150DPI,
                         rows_per_page: int = 4) -> list[Image.Image]:
    """The director's sheet: per shot a panel thumbnail beside its number, size, move, duration, transition,
    dialogue, action and notes; a header with the title and the total running time on each page."""
    if not board.shots:
        raise ValueError("the storyboard has no shots; parse a script first")
    if not 1 <= rows_per_page <= 12:
        raise ValueError("rows_per_page must be 1..12")
    renderer = renderer or PrevizRenderer()
    width, height = page_size
    margin = int(width * 0.05)
    header_h = int(height * 0.06)
    row_h = (height - 2 * margin - header_h) // rows_per_page
    thumb_h = row_h - 24
    language = board.language
    pages = []
    total = math.ceil(len(board.shots) / rows_per_page)
    small = get_font(max(12, int(width * 0.017)), language=language)
    bold = get_font(max(14, int(width * 0.022)), bold=True, language=language)
    title_font = get_font(max(16, int(width * 0.026)), bold=True, language=language)
    for page_index in range(total):
        page = Image.new("RGB", page_size, (255, 255, 255))
        draw = ImageDraw.Draw(page)
        title = board.title or "Storyboard"
        minutes, seconds = divmod(board.duration_s, 60)
        draw.text((margin, margin), title, font=title_font, fill=INK[:3])
        draw.text((width - margin, margin), f"{len(board.shots)} shots · {int(minutes)}:{seconds:04.1f} · "
                  f"{page_index + 1}/{total}", font=small, fill=(90, 90, 100), anchor="ra")
        draw.line([margin, margin + header_h - 10, width - margin, margin + header_h - 10], fill=INK[:3], width=3)
        chunk = board.shots[page_index * rows_per_page:(page_index + 1) * rows_per_page]
        for row, shot in enumerate(chunk):
            y0 = margin + header_h + row * row_h
            if panels and shot.number in panels:
                source = panels[shot.number]
                thumb = ImageOps.contain(source.convert("RGB"), (int(thumb_h * 1.78), thumb_h))
            else:
                thumb = renderer.render(shot, board, size=(int(thumb_h * 9 / 16), thumb_h)).image.convert("RGB")
            page.paste(thumb, (margin, y0 + 12))
            draw.rectangle([margin, y0 + 12, margin + thumb.width - 1, y0 + 12 + thumb.height - 1], outline=INK[:3],
                           width=2)
            x = margin + thumb.width + 30
            text_w = width - margin - x
            draw.text((x, y0 + 14), f"{shot.number}", font=bold, fill=(200, 40, 50))
            meta = (f"{shot.size} · {MOVE_LABELS.get(shot.move, shot.move)} · {shot.duration_s:.1f} s"
                    + (f" · in: {shot.transition}" if shot.transition != "cut" else ""))
            draw.text((x + bold.getlength(f"{shot.number}") + 20, y0 + 16), meta, font=bold, fill=INK[:3])
            lines = []
            if shot.scene:
                lines.append(shot.scene)
            if shot.dialogue:
                paren = f" ({shot.parenthetical})" if shot.parenthetical else ""
                lines.append(f"{shot.speaker}{paren}: {shot.dialogue}")
            if shot.dual_dialogue:
                lines.append(f"{shot.dual_speaker}: {shot.dual_dialogue}")
            if shot.action:
                lines.append(("动作: " if language == "zh" else "Action: ") + shot.action.replace("\n", " "))
            if shot.characters:
                lines.append(("人物: " if language == "zh" else "Characters: ") + ", ".join(shot.characters))
            if shot.sfx:
                lines.append(("音效: " if language == "zh" else "SFX: ") + shot.sfx)
            if shot.notes:
                lines.append(("备注: " if language == "zh" else "Notes: ") + shot.notes)
            body_top = y0 + 16 + int(bold.size * 1.6)
            fit = fit_text("\n".join(lines), max_width_px=text_w, max_height_px=y0 + row_h - body_top - 8,
                           max_size_px=small.size, min_size_px=10, language=language)
            draw_lines(draw, fit, (x, body_top, width - margin, body_top + fit.height_px), align="left")
            draw.line([margin, y0 + row_h - 2, width - margin, y0 + row_h - 2], fill=(210, 210, 216), width=1)
        pages.append(page)
    return pages


@dataclass
class ExportResult:
    """What :func:`export_storyboard` wrote."""

    shot_list_json: Path
    shot_list_csv: Path
    panels: list[Path]
    pages_png: list[Path]
    pdf: Path
    cbz: Path
    sheet_pdf: Path
    extra: dict[str, Path] = field(default_factory=dict)

    def files(self) -> list[Path]:
        return [self.shot_list_json, self.shot_list_csv, *self.pages_png, self.pdf, self.cbz, self.sheet_pdf]


def export_storyboard(board: Storyboard, out_dir: str | Path, *, spec: PageSpec = PageSpec(),
                      renderer: PanelRenderer | None = None, panel_size: tuple[int, int] = DEFAULT_PANEL_SIZE,
                      art: dict[int, RenderedPanel] | None = None,
                      progress: Callable[[float, str], None] | None = None, cancel=None) -> ExportResult:
    """Write everything a storyboard makes into ``out_dir``.

    ``shots.json`` and ``shots.csv`` (the shot list), ``panels/shot_0001.png``... (one panel per shot, with
    header and lettering), ``pages/page_001.png``..., ``pages.pdf``, ``pages.cbz`` and
    ``storyboard-sheet.pdf``. Progress goes through ``progress(fraction, message)``; ``cancel`` (callable or
    threading.Event) stops between panels and pages, keeping every file already written.
    """
    from lantern_studio.engines.atomic import atomic_write_json

    if not isinstance(board, Storyboard) or not board.shots:
        raise ValueError("export_storyboard needs a Storyboard with at least one shot; parse a script first")
    spec.validate()
    panel_size = check_size(panel_size)
    renderer = renderer or PrevizRenderer()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, fraction)), message)

    json_path = atomic_write_json(out / "shots.json", board.to_dict())
    csv_path = atomic_write_text(out / "shots.csv", shots_to_csv(board))
    report(0.02, "shot list written")

    panel_paths: list[Path] = []
    panel_dir = out / "panels"
    panel_dir.mkdir(exist_ok=True)
    count = len(board.shots)
    for index, shot in enumerate(board.shots):
        check_cancel(cancel, f"cancelled after {index} of {count} panels")
        if art and shot.number in art:
            image = art[shot.number].image
        else:
            image = renderer.render(shot, board, size=panel_size, lettering=True).image
        final = panel_dir / f"shot_{shot.number:04d}.png"
        with atomic_output_path(final) as temp:
            image.convert("RGB").save(temp, format="PNG")
        panel_paths.append(final)
        report(0.02 + 0.5 * (index + 1) / count, f"panel {index + 1}/{count}")

    written = export_pages(board, out, spec=spec, art=art, renderer=renderer, cancel=cancel,
                           progress=lambda f, m: report(0.52 + 0.48 * f, m))
    return ExportResult(shot_list_json=json_path, shot_list_csv=csv_path, panels=panel_paths,
                        pages_png=written.pages_png, pdf=written.pdf, cbz=written.cbz, sheet_pdf=written.sheet_pdf)


@dataclass
class PagesResult:
    """What :func:`export_pages` wrote, and the page images themselves."""

    pages: list[Image.Image]
    pages_png: list[Path]
    pdf: Path
    cbz: Path
    sheet_pdf: Path

    def files(self) -> list[Path]:
        return [self.pdf, self.cbz, self.sheet_pdf, *self.pages_png]


def export_pages(board: Storyboard, out_dir: str | Path, *, spec: PageSpec = PageSpec(),
                 art: dict[int, RenderedPanel] | None = None, renderer: PanelRenderer | None = None,
                 progress: Callable[[float, str], None] | None = None, cancel=None) -> PagesResult:
    """Compose the pages and write ``pages/page_001.png``..., ``pages.pdf``, ``pages.cbz`` and
    ``storyboard-sheet.pdf`` into ``out_dir``. Old page PNGs beyond the new page count are removed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, fraction)), message)

    pages = compose_pages(board, spec=spec, art=art, renderer=renderer, cancel=cancel,
                          progress=lambda f, m: report(0.75 * f, m))
    page_dir = out / "pages"
    page_paths = save_png_pages(pages, page_dir)
    for stale in sorted(page_dir.glob("page_*.png"))[len(page_paths):]:
        stale.unlink()
    pdf = save_pdf(pages, out / "pages.pdf", dpi=spec.dpi, title=board.title)
    cbz = save_cbz(pages, out / "pages.cbz", board=board, rtl=spec.rtl)
    report(0.85, "pages written; drawing the director's sheet")
    thumbs = {n: p.image for n, p in art.items()} if art else None
    sheet = director_sheet_pages(board, panels=thumbs, renderer=renderer)
    sheet_pdf = save_pdf(sheet, out / "storyboard-sheet.pdf", dpi=150, title=f"{board.title} — shot sheet")
    report(1.0, "done")
    return PagesResult(pages=pages, pages_png=page_paths, pdf=pdf, cbz=cbz, sheet_pdf=sheet_pdf)
