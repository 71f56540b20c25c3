"""Fonts for the evaluation set: Noto Sans/Serif CJK from Debian's `fonts-noto-cjk`.

One package covers every script the set renders (simplified and traditional Chinese,
Japanese kana and kanji, Latin, digits, currency signs) in three designs (sans, serif,
monospaced sans) and two weights. Faces inside the .ttc collections are picked by their
family name, not by index, because the index order differs between collections.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

FONT_ENV = "PPOCR_EVALSET_FONTS"  # a directory holding Noto*CJK*.ttc, searched first
FONT_DIRS = (
    Path("/usr/share/fonts/opentype/noto"),  # Debian/Ubuntu fonts-noto-cjk
    Path("/usr/share/fonts/noto-cjk"),  # Fedora/Arch google-noto-*-cjk
    Path("/usr/share/fonts/google-noto-cjk"),
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
)
INSTALL_HINT = "apt-get install -y fonts-noto-cjk"
_FILES = ("NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc", "NotoSerifCJK-Regular.ttc", "NotoSerifCJK-Bold.ttc")
_LANGS = {"SC": "zh", "TC": "zh_tw", "JP": "ja"}


class FontsNotFound(RuntimeError):
    pass


@dataclass(frozen=True)
class FontFace:
    path: Path
    index: int  # face index inside the .ttc
    family: str  # e.g. "Noto Serif CJK SC"
    style: str  # "Regular" | "Bold"
    design: str  # "sans" | "serif" | "mono"
    lang: str  # "zh" | "zh_tw" | "ja": the script the face's glyph variants are made for

    @property
    def key(self) -> str:
        return f"{self.family} {self.style}"

    def load(self, size: int) -> ImageFont.FreeTypeFont:
        # BASIC layout: the same glyph positions whether or not Pillow was built with raqm
        return ImageFont.truetype(str(self.path), size, index=self.index, layout_engine=ImageFont.Layout.BASIC)


def _faces_in(path: Path) -> list[FontFace]:
    faces, index = [], 0
    while True:
        try:
            font = ImageFont.truetype(str(path), 16, index=index, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            break
        family, style = font.getname()
        lang = _LANGS.get(family.rsplit(" ", 1)[-1])
        if lang is not None:
            design = "mono" if "Mono" in family else ("serif" if "Serif" in family else "sans")
            faces.append(FontFace(path, index, family, style, design, lang))
        index += 1
    return faces


def _search_dirs() -> list[Path]:
    env = os.environ.get(FONT_ENV)
    return ([Path(env)] if env else []) + list(FONT_DIRS)


def find_fonts(dirs: list[Path] | None = None) -> list[FontFace]:
    """Every SC/TC/JP face of the Noto Sans/Serif CJK collections found, in a fixed order.

    Looks in $PPOCR_EVALSET_FONTS first, then the usual system font directories. Raises
    FontsNotFound naming the package to install when none is there.
    """
    found: dict[str, Path] = {}
    for d in dirs if dirs is not None else _search_dirs():
        if not d.is_dir():
            continue
        for name in _FILES:
            if name in found:
                continue
            direct = d / name
            hits = [direct] if direct.is_file() else sorted(d.rglob(name))
            if hits:
                found[name] = hits[0]
        if len(found) == len(_FILES):
            break
    faces = [face for name in _FILES if name in found for face in _faces_in(found[name])]
    if not faces:
        where = ", ".join(str(d) for d in (dirs if dirs is not None else _search_dirs()))
        raise FontsNotFound(
            f"no Noto CJK fonts ({', '.join(_FILES)}) found in {where}. "
            f"Install Debian's fonts-noto-cjk package (`{INSTALL_HINT}`, as root) "
            f"or point ${FONT_ENV} at a directory holding those files."
        )
    return faces
