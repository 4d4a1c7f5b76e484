"""Find fonts that can draw Chinese text, so nothing renders as tofu boxes."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

# well-known places, tried after fontconfig; the first existing one wins
_KNOWN_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)

INSTALL_HINT = ("install a CJK font: on Debian/Ubuntu `sudo apt-get install fonts-noto-cjk`, on Fedora "
                "`sudo dnf install google-noto-sans-cjk-fonts`; macOS and Windows ship one")


class FontNotFoundError(RuntimeError):
    """No font that covers Chinese text was found."""


@lru_cache(maxsize=1)
def find_cjk_font() -> Path | None:
    """Path of a font file that covers Chinese, or None. Regular weights are preferred."""
    candidates: list[Path] = []
    if shutil.which("fc-list"):
        try:
            listing = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True,
                                     timeout=10).stdout
            candidates += [Path(line.split(":")[0].strip()) for line in listing.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += [Path(p) for p in _KNOWN_CJK_FONTS]
    existing = [p for p in candidates if p.is_file()]
    if not existing:
        return None
    # prefer a sans regular face: easiest to read small on panels and subtitles
    existing.sort(key=lambda p: ("Sans" not in p.name, "Regular" not in p.name and "microhei" not in p.name,
                                 str(p)))
    return existing[0]


def require_cjk_font() -> Path:
    font = find_cjk_font()
    if font is None:
        raise FontNotFoundError(f"No font that can draw Chinese text was found; {INSTALL_HINT}.")
    return font
