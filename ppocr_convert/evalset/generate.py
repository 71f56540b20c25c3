"""Generate the labelled evaluation set: rendered pages of real text with known boxes.

    ppocr-convert evalset --out .cache/evalset --n 40 --seed 0

Each image is a page in a size phones and scanners produce (3:4 and 4:3 photos, 12 MP
photos downscaled, 16:9 landscape, A4 scans, receipts, phone screenshots) with 10-16 lines
of Chinese, English, Japanese, prices, dates and codes in Noto CJK fonts; then the page is
rotated (±3°), given a mild perspective (photos), downscaled, blurred, noised and JPEG
compressed. Ground truth is each line's ink box padded by 2 px + 10 % of its height,
carried through the same geometry into final image pixels.

Output directory:
    labels.json  {image file name: [{"text": str, "box": [[x, y] × 4]}, …]}  (tl, tr, br, bl)
    meta.json    seed, generator version, fonts, and per image the page profile and the
                 degradations drawn, with per line its font, pixel size and polarity
    NNN_<profile>.jpg|png

Deterministic: image i depends only on (seed, i) (so a smaller n gives a prefix of a larger
one) and the same seed, fonts and library versions give byte-identical files.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import corpus
from .corpus import Line
from .fonts import FontFace, find_fonts

GENERATOR_VERSION = 1
# Box = the line's ink padded by PAD px + PAD_REL x the ink height (final image pixels).
# The relative part matches how detectors (and the datasets they learn from) frame text:
# PP-OCRv5's DB boxes come out ~0.3 ink heights taller than the ink, so with 2 px alone a
# correctly found two-character line often misses IoU 0.5; with it, boxes stay tight.
PAD = 2.0
PAD_REL = 0.1


@dataclass(frozen=True)
class Profile:
    name: str
    size: tuple[int, int]  # final (W, H)
    render: float  # render at size * render, then downscale (a 12 MP photo saved smaller)
    kind: str  # photo | scan | receipt | screenshot
    font_px: tuple[int, int]  # body font size range in final pixels
    ext: str


PROFILES = {p.name: p for p in (
    Profile("photo_3x4", (1080, 1440), 1.0, "photo", (14, 36), "jpg"),
    Profile("photo_12mp", (1512, 2016), 2.0, "photo", (18, 50), "jpg"),  # 3024x4032 rendered, halved
    Profile("photo_4x3", (1440, 1080), 1.0, "photo", (14, 36), "jpg"),
    Profile("landscape_16x9", (1920, 1080), 1.0, "photo", (16, 44), "jpg"),
    Profile("scan_a4", (1240, 1754), 1.0, "scan", (14, 30), "jpg"),  # A4 at 150 dpi
    Profile("receipt", (600, 1800), 1.0, "receipt", (15, 26), "jpg"),
    Profile("screenshot", (1170, 2532), 1.0, "screenshot", (32, 56), "png"),  # phone, 3x
)}
# every block of 10 images holds this mix, in a seeded order
CYCLE = ("photo_3x4", "photo_3x4", "photo_12mp", "photo_12mp", "photo_4x3", "landscape_16x9",
         "scan_a4", "scan_a4", "receipt", "screenshot")
THEMES_BY_KIND = {
    "photo": ("notice", "menu", "mixed", "japanese", "traditional", "document", "menu", "mixed"),
    "scan": ("document", "document", "notice", "mixed", "japanese"),
    "receipt": ("receipt", "receipt", "receipt", "menu"),
    "screenshot": ("mixed", "document", "notice", "menu", "japanese"),
}
LIGHT_BG = ((255, 255, 255), (250, 248, 240), (245, 242, 232), (238, 240, 245), (252, 246, 220),
            (235, 245, 235), (250, 235, 235), (230, 236, 245), (242, 242, 242), (228, 222, 205))
DARK_BG = ((25, 30, 45), (20, 20, 20), (30, 60, 40), (110, 20, 25), (20, 50, 95), (50, 50, 55), (60, 35, 80))
DARK_INK = ((15, 15, 15), (40, 40, 40), (70, 70, 70), (20, 30, 90), (150, 20, 20), (20, 80, 40), (60, 30, 20))
LIGHT_INK = ((255, 255, 255), (245, 245, 235), (255, 230, 120), (200, 235, 255), (255, 255, 200))


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def profile_for(seed: int, index: int) -> Profile:
    order = np.random.default_rng([seed, 1_000_000 + index // len(CYCLE)]).permutation(len(CYCLE))
    return PROFILES[CYCLE[int(order[index % len(CYCLE)])]]


# ------------------------------------------------------------------ text rendering

@lru_cache(maxsize=512)
def _font(face: FontFace, size: int):
    return face.load(size)


def _render(face: FontFace, size: int, text: str) -> np.ndarray:
    """The line's coverage mask (uint8), cropped to its ink."""
    font = _font(face, size)
    left, top, right, bottom = font.getbbox(text)
    m = 4
    im = Image.new("L", (right - left + 2 * m, bottom - top + 2 * m), 0)
    ImageDraw.Draw(im).text((m - left, m - top), text, fill=255, font=font)
    a = np.asarray(im)
    ys, xs = np.nonzero(a)
    if len(ys) == 0:
        return np.zeros((0, 0), np.uint8)
    return np.ascontiguousarray(a[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1])


def _shorten(text: str, lang: str) -> str:
    if lang == "en" and " " in text.strip():
        text = text.rsplit(" ", 1)[0]
    else:
        text = text[:-1]
    return text.rstrip(" ，、.,:：;；")


@dataclass
class Placed:
    text: str
    mask: np.ndarray
    x: int
    y: int
    face: FontFace
    size: int  # render px
    light: bool  # light text (on a dark page or band)
    color: tuple[int, int, int]
    alpha: float


# ------------------------------------------------------------------ one page

class _Page:
    def __init__(self, rng: np.random.Generator, profile: Profile, fonts: list[FontFace], scale: float):
        self.rng, self.profile = rng, profile
        self.W, self.H = (max(64, round(v * scale)) for v in profile.size)
        self.f = profile.render
        self.RW, self.RH = round(self.W * self.f), round(self.H * self.f)
        self.scale = scale
        self.faces = {lang: [f for f in fonts if f.lang == lang] for lang in ("zh", "zh_tw", "ja")}
        self.faces["en"] = self.faces["zh"]
        for lang, faces in self.faces.items():
            if not faces:  # a partial font install: fall back to whatever faces exist
                self.faces[lang] = list(fonts)

    def face_for(self, lang: str, design: str, bold: bool) -> FontFace:
        faces = self.faces[lang]
        style = "Bold" if bold else "Regular"
        exact = [f for f in faces if f.design == design and f.style == style]
        return exact[0] if exact else faces[0]

    # -- geometry drawn first so the layout can keep clear of the edges
    def draw_geometry(self):
        rng, kind = self.rng, self.profile.kind
        self.angle = 0.0 if kind == "screenshot" else float(rng.uniform(-3.0, 3.0))
        self.persp = float(rng.uniform(0.0, 0.012)) if kind in ("photo", "receipt") else 0.0
        self.jitter = rng.uniform(-1, 1, (4, 2)).astype(np.float32)  # perspective: corner shifts
        s = abs(math.sin(math.radians(self.angle)))
        RW, RH = self.RW, self.RH
        self.mx = int(RW * rng.uniform(0.04, 0.09) + RH / 2 * s + 2.5 * self.persp * RW + 4 * self.f)
        self.my = int(RH * rng.uniform(0.03, 0.06) + RW / 2 * s + 2.5 * self.persp * RH + 4 * self.f)

    def layout(self):
        rng, p, f = self.rng, self.profile, self.f
        kind = p.kind
        self.theme = _pick(rng, THEMES_BY_KIND[kind])
        entries = corpus.page_lines(rng, self.theme, int(rng.integers(10, 17)))
        self.dark_page = bool(rng.random() < {"photo": 0.18, "screenshot": 0.3, "scan": 0.0, "receipt": 0.0}[kind])
        design = _pick(rng, {"receipt": ("mono", "mono", "sans"), "scan": ("serif", "sans", "serif"),
                             }.get(kind, ("sans", "sans", "serif", "mono")))
        center_all = self.theme == "notice" and rng.random() < 0.5
        lo, hi = (v * self.scale * f for v in p.font_px)
        avail_w, avail_h = self.RW - 2 * self.mx, self.RH - 2 * self.my
        two_col = self.RW > 1.2 * self.RH and rng.random() < 0.6
        if two_col:
            col_gap = int(hi * 3)
            cw = (avail_w - col_gap) // 2
            cols = [(self.mx, self.mx + cw), (self.mx + cw + col_gap, self.mx + 2 * cw + col_gap)]
        else:
            cols = [(self.mx, self.RW - self.mx)]
        # body size: log-uniform over the profile's range, capped so the entries fit (one
        # entry ≈ 1.9 body sizes with its gap); the gaps then stretch so that the text block
        # spans about `fill` of the page height
        fill = float(rng.uniform(0.45, 0.95))
        base = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        base = max(lo, min(base, avail_h * len(cols) / (len(entries) * 1.9)))
        band = None  # a run of light-on-dark lines on a dark band, on a light page
        if not self.dark_page and rng.random() < 0.35:
            start = 0 if rng.random() < 0.5 else int(rng.integers(1, max(2, len(entries) - 2)))
            band = (start, start + int(rng.integers(1, 4)))
        self.band_color = _jitter(rng, _pick(rng, DARK_BG), 10)
        ink = _pick(rng, LIGHT_INK if self.dark_page else DARK_INK)
        light_ink = _pick(rng, LIGHT_INK)
        faded = rng.random() < 0.2  # washed-out print, worn sign, glare
        accent = (255, 210, 80) if self.dark_page else _pick(rng, ((190, 20, 20), (20, 60, 160), (0, 110, 60)))

        # 1. measure every entry at its size, in the width of a column
        width = cols[0][1] - cols[0][0]
        rows = []
        for i, entry in enumerate(entries):
            first = entry[0] if isinstance(entry, tuple) else entry
            factor = {"title": rng.uniform(1.3, 2.0), "small": rng.uniform(0.7, 0.85),
                      "para": rng.uniform(0.9, 1.05)}.get(first.role, rng.uniform(0.88, 1.15))
            size = int(round(max(lo, base * factor)))
            bold = bool(rng.random() < (0.6 if first.role == "title" else 0.15))
            line_design = design if rng.random() < 0.8 else _pick(rng, ("sans", "serif", "mono"))
            in_band = band is not None and band[0] <= i < band[1]
            light = self.dark_page or in_band
            if light:
                color = light_ink
            else:
                color = accent if (first.role == "title" and rng.random() < 0.4) or rng.random() < 0.1 else ink
            if isinstance(entry, tuple):
                fit = self._fit_pair(entry, size, line_design, bold, width)
            elif entry.role == "para":  # cut, not shrunk, to (most of) the column's width
                fit = self._fit_line(entry, size, line_design, bold, int(width * rng.uniform(0.75, 1.0)), shrink=False)
            else:
                fit = self._fit_line(entry, size, line_design, bold, width)
            if not fit:
                continue
            color = _jitter(rng, color, 8)
            alpha = float(rng.uniform(0.5, 0.8) if faded else rng.uniform(0.85, 1.0))
            gap = int(size * (rng.uniform(0.35, 0.7) if first.role == "para" else rng.uniform(0.5, 1.1))) + 2
            rows.append({"items": fit, "size": size, "h": max(m.shape[0] for _, m, _ in fit), "light": light,
                         "band": in_band, "title": first.role == "title", "color": color, "alpha": alpha, "gap": gap,
                         "align": float(rng.random()), "indent": float(rng.uniform(0, 0.12))})
        for a, b in zip(rows, rows[1:]):  # room for the band's edges
            if a["band"] != b["band"]:
                a["gap"] += int(1.2 * max(a["size"], b["size"]))

        # 2. fill the columns top to bottom, then spread the spare height over the gaps
        columns: list[list[dict]] = [[] for _ in cols]
        col, used = 0, 0
        for k, row in enumerate(rows):
            if used + row["h"] > avail_h or (col + 1 < len(cols) and k == (len(rows) + 1) // 2):
                if col + 1 == len(cols):
                    break
                col, used = col + 1, 0
            columns[col].append(row)
            used += row["h"] + row["gap"]
        self.placed, self.bands, self.rules = [], [], []
        for (left, right), crows in zip(cols, columns):
            if not crows:
                continue
            natural = sum(r["h"] + r["gap"] for r in crows) - crows[-1]["gap"]
            target = max(natural, fill * avail_h)
            spare = min(avail_h - natural, target - natural)
            extra = [min(spare / max(1, len(crows) - 1), 2.0 * r["size"]) for r in crows]
            extra = extra if len(crows) > 1 else [0.0]
            y = self.my + int(rng.uniform(0, max(0.0, avail_h - natural - sum(extra[:-1])) * 0.5))
            band_top = None
            for k, row in enumerate(crows):
                if row["band"] and band_top is None:
                    band_top = y - int(0.45 * row["size"])
                self._place_row(row, y, left, right, center_all)
                y += row["h"]
                if row["band"] and (k + 1 == len(crows) or not crows[k + 1]["band"]):
                    pad = int(0.45 * row["size"])
                    self.bands.append((max(0, left - int(0.6 * row["size"])), max(0, band_top),
                                       min(self.RW, right + int(0.6 * row["size"])), min(self.RH, y + pad)))
                    band_top = None
                gap = row["gap"] + (int(extra[k]) if k + 1 < len(crows) else 0)
                if (k + 1 < len(crows) and not row["light"] and not crows[k + 1]["band"] and gap > row["size"]
                        and rng.random() < 0.2):
                    self.rules.append((left, right, y + gap // 2))
                y += gap

    def _place_row(self, row: dict, y: int, left: int, right: int, center_all: bool) -> None:
        items, width = row["items"], right - left
        if len(items) == 2:
            (t1, m1, f1), (t2, m2, f2) = items
            spots = [(t1, m1, f1, left + int(row["indent"] * 0.25 * width)), (t2, m2, f2, right - m2.shape[1])]
        else:
            t1, m1, f1 = items[0]
            free = width - m1.shape[1]
            if center_all or (row["title"] and row["align"] < 0.6):
                x = left + free // 2
            elif row["align"] > 0.92:
                x = right - m1.shape[1]
            else:
                x = left + int(free * min(1.0, row["indent"]))
            spots = [(t1, m1, f1, x)]
        for text, mask, face, x in spots:
            yy = y + (row["h"] - mask.shape[0]) // 2
            self.placed.append(Placed(text, mask, x, yy, face, row["size"], row["light"], row["color"], row["alpha"]))

    def _fit_line(self, line: Line, size: int, design: str, bold: bool, width: int, shrink: bool = True):
        lo = int(self.profile.font_px[0] * self.scale * self.f)
        face = self.face_for(line.lang, design, bold)
        text = line.text
        while True:
            mask = _render(face, size, text)
            if mask.shape[1] <= width:
                return [(text, mask, face)] if mask.size else []
            if shrink and size > lo and size * width / mask.shape[1] >= lo:
                size = max(lo, int(size * width / mask.shape[1]))
                continue
            text = _shorten(text, line.lang)
            if len(text.replace(" ", "")) < 2:
                return []

    def _fit_pair(self, pair: tuple[Line, Line], size: int, design: str, bold: bool, width: int):
        (a, b) = pair
        fa, fb = self.face_for(a.lang, design, bold), self.face_for(b.lang, design, bold)
        ma, mb = _render(fa, size, a.text), _render(fb, size, b.text)
        if ma.size and mb.size and ma.shape[1] + mb.shape[1] + 3 * size <= width:
            return [(a.text, ma, fa), (b.text, mb, fb)]
        return self._fit_line(a, size, design, bold, width)

    # -- pixels
    def background(self) -> np.ndarray:
        rng, RW, RH = self.rng, self.RW, self.RH
        base = np.array(_jitter(rng, _pick(rng, DARK_BG if self.dark_page else LIGHT_BG), 6), np.float32)
        img = np.empty((RH, RW, 3), np.float32)
        img[:] = base
        # uneven paper / surface: a smooth random field
        field = cv2.resize(rng.normal(0, 1, (int(rng.integers(3, 8)), int(rng.integers(3, 8)))).astype(np.float32),
                           (RW, RH), interpolation=cv2.INTER_CUBIC)
        img += field[..., None] * float(rng.uniform(0, 8))
        if self.profile.kind in ("photo", "receipt"):
            # lighting falling off across the page
            theta = rng.uniform(0, 2 * math.pi)
            xx = np.linspace(-0.5, 0.5, RW, dtype=np.float32)[None, :] * math.cos(theta)
            yy = np.linspace(-0.5, 0.5, RH, dtype=np.float32)[:, None] * math.sin(theta)
            img *= (1.0 - float(rng.uniform(0, 0.3)) * (xx + yy + 0.5))[..., None]
        for x0, y0, x1, y1 in self.bands:
            img[y0:y1, x0:x1] = np.array(self.band_color, np.float32)
        thick = max(1, int(round(self.f * rng.uniform(1, 2.5))))
        rule_color = np.array(_pick(rng, DARK_INK), np.float32)
        for x0, x1, y in self.rules:
            img[y: y + thick, x0:x1] = rule_color * 0.8 + img[y: y + thick, x0:x1] * 0.2
        return img

    def draw_text(self, img: np.ndarray) -> None:
        for p in self.placed:
            h, w = p.mask.shape
            region = img[p.y: p.y + h, p.x: p.x + w]
            a = (p.mask.astype(np.float32) * (p.alpha / 255.0))[..., None]
            region *= 1.0 - a
            region += a * np.array(p.color, np.float32)

    def matrix(self, strength: float) -> np.ndarray:
        """Rotation about the centre plus a mild perspective, scaled by strength (3x3)."""
        if strength == 0 or (self.angle == 0 and self.persp == 0):
            return np.eye(3)
        RW, RH = self.RW, self.RH
        cx, cy = (RW - 1) / 2.0, (RH - 1) / 2.0
        rot = np.vstack([cv2.getRotationMatrix2D((cx, cy), self.angle * strength, 1.0), [0, 0, 1]])
        src = np.float32([[0, 0], [RW - 1, 0], [RW - 1, RH - 1], [0, RH - 1]])
        dst = src + (self.jitter * strength * self.persp * np.float32([RW, RH])).astype(np.float32)
        return cv2.getPerspectiveTransform(src, dst) @ rot

    def warp(self, img: np.ndarray, M: np.ndarray) -> np.ndarray:
        if np.array_equal(M, np.eye(3)):
            return img
        return cv2.warpPerspective(img, M, (self.RW, self.RH), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def boxes(self, M: np.ndarray) -> list[np.ndarray]:
        sx, sy = self.W / self.RW, self.H / self.RH
        out = []
        for p in self.placed:
            h, w = p.mask.shape
            pad = PAD * self.f + PAD_REL * h
            x0, y0, x1, y1 = p.x - pad, p.y - pad, p.x + w + pad, p.y + h + pad
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) - 0.5  # edge -> centre coords
            pts = cv2.perspectiveTransform(pts[None], M)[0] + 0.5
            out.append(pts * [sx, sy])
        return out

    def degrade(self, img: np.ndarray) -> tuple[np.ndarray, dict]:
        rng, kind = self.rng, self.profile.kind
        info: dict = {}
        if kind != "screenshot":
            lo, hi = (0.2, 0.8) if kind == "scan" else (0.3, 1.6)
            sigma = float(rng.uniform(lo, hi)) if rng.random() < 0.85 else 0.0
            if sigma > 0:
                img = cv2.GaussianBlur(img, (0, 0), sigma)
            info["blur_sigma"] = round(sigma, 3)
            if kind == "photo" and rng.random() < 0.12:
                n = int(rng.integers(3, 6))
                k = np.zeros((n, n), np.float32)
                k[n // 2, :] = 1.0 / n
                turn = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
                k = cv2.warpAffine(k, turn, (n, n))
                img = cv2.filter2D(img, -1, k / max(k.sum(), 1e-6))
                info["motion_blur_px"] = n
            noise = float(rng.uniform(0.5, 4.0) if kind == "scan" else rng.uniform(2.0, 8.0))
            img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
            info["noise_sigma"] = round(noise, 3)
            info["jpeg_quality"] = int(rng.integers(60, 96) if kind == "scan" else rng.integers(40, 91))
        return np.clip(np.rint(img), 0, 255).astype(np.uint8), info


def _jitter(rng: np.random.Generator, color, amount: int) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in color)


def render_image(seed: int, index: int, fonts: list[FontFace], scale: float = 1.0) -> tuple[str, bytes, list, dict]:
    """(file name, encoded image bytes, labels, meta) for image `index` of the set `seed`."""
    profile = profile_for(seed, index)
    rng = np.random.default_rng([seed, index])
    page = _Page(rng, profile, fonts, scale)
    page.draw_geometry()
    page.layout()
    canvas = page.background()
    page.draw_text(canvas)

    # geometry: weaken it until every line's box is well inside the image (it always is
    # by construction of the margins; this is the guarantee)
    for strength in (1.0, 0.5, 0.25, 0.0):
        M = page.matrix(strength)
        boxes = page.boxes(M)
        if all(b[:, 0].min() >= 0 and b[:, 1].min() >= 0 and b[:, 0].max() <= page.W and b[:, 1].max() <= page.H
               for b in boxes):
            break
    warped = page.warp(canvas, M)
    if (page.RW, page.RH) != (page.W, page.H):
        warped = cv2.resize(warped, (page.W, page.H), interpolation=cv2.INTER_AREA)
    img, info = page.degrade(warped)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    name = f"{index:03d}_{profile.name}.{profile.ext}"
    if profile.ext == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    else:
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, info["jpeg_quality"]])
    assert ok
    labels = [{"text": p.text, "box": [[round(float(x), 1), round(float(y), 1)] for x, y in b]}
              for p, b in zip(page.placed, boxes)]
    meta = {
        "profile": profile.name, "size": [page.W, page.H], "theme": page.theme,
        "rotation_deg": round(page.angle * strength, 3), "perspective": round(page.persp * strength, 4),
        "light_page": not page.dark_page, **info,
        "lines": [{"font": p.face.key, "px": round(p.size / page.f, 1), "light_on_dark": p.light}
                  for p in page.placed],
    }
    return name, buf.tobytes(), labels, meta


# ------------------------------------------------------------------ the set

def _fonts_meta(fonts: list[FontFace]) -> list[dict]:
    digests = {}
    for f in fonts:
        if f.path not in digests:
            digests[f.path] = hashlib.sha256(f.path.read_bytes()).hexdigest()
    return [{"face": f.key, "file": f.path.name, "index": f.index, "sha256": digests[f.path]} for f in fonts]


def generate(out_dir: Path, n_images: int = 40, seed: int = 0, *, scale: float = 1.0,
             fonts: list[FontFace] | None = None) -> Path:
    """Write the set to out_dir (replacing a previous set there) and return labels.json's path.

    `scale` shrinks every page and font (tests use small pages). Written into a temporary
    directory next to out_dir and renamed into place, so a reader never sees half a set.
    """
    out_dir = Path(out_dir).resolve()
    fonts = fonts if fonts is not None else find_fonts()
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "labels.json").is_file():
        raise FileExistsError(f"{out_dir} exists and does not hold an evaluation set; not replacing it")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        labels, images = {}, {}
        for i in range(n_images):
            name, data, lines, meta = render_image(seed, i, fonts, scale)
            (tmp / name).write_bytes(data)
            labels[name], images[name] = lines, meta
        (tmp / "labels.json").write_text(_dumps(labels), encoding="utf-8")
        meta = {"generator_version": GENERATOR_VERSION, "seed": seed, "n_images": n_images, "scale": scale,
                "n_lines": sum(len(v) for v in labels.values()), "box_pad": {"px": PAD, "ink_height": PAD_REL},
                "fonts": _fonts_meta(fonts), "images": images}
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                       encoding="utf-8")
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "labels.json"


def ensure(out_dir: Path, n_images: int = 40, seed: int = 0, *, scale: float = 1.0) -> Path:
    """labels.json of the set in out_dir, generating it only if missing or made differently."""
    out_dir = Path(out_dir)
    try:
        meta = json.loads((out_dir / "meta.json").read_text(encoding="utf-8"))
        same = (meta["generator_version"], meta["seed"], meta["n_images"], meta["scale"]) == (
            GENERATOR_VERSION, seed, n_images, scale)
        if same and (out_dir / "labels.json").is_file() and all((out_dir / n).is_file() for n in meta["images"]):
            return out_dir / "labels.json"
    except (OSError, ValueError, KeyError):
        pass
    return generate(out_dir, n_images, seed, scale=scale)


def _dumps(labels: dict) -> str:
    # one line per text line: readable in a diff, stable byte for byte
    parts = []
    for name in sorted(labels):
        rows = ",\n".join("  " + json.dumps(line, ensure_ascii=False) for line in labels[name])
        parts.append(f"{json.dumps(name)}: [\n{rows}\n ]" if rows else f"{json.dumps(name)}: []")
    return "{\n" + ",\n".join(parts) + "\n}\n"
