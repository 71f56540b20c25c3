"""Text for the evaluation set: hand-written phrase lists (data/*.txt) plus seeded
generators of the things photos of real text are full of — prices, dates, times, phone
and order numbers, receipt lines — and long lines made by joining phrases.

Every string produced is a `Line(text, lang)`; `lang` picks the font's glyph variants
("zh" simplified Chinese, "zh_tw" traditional, "ja" Japanese, "en" Latin/digits, any face).
Only characters of the PP-OCRv5 dictionary are used (tests/test_evalset.py checks it).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data"
LANGS = ("zh", "zh_tw", "ja", "en")


@dataclass(frozen=True)
class Line:
    text: str
    lang: str  # zh | zh_tw | ja | en
    role: str = "body"  # title | body | small | para (cut to the column's width)


@lru_cache(maxsize=None)
def phrases(lang: str) -> tuple[str, ...]:
    path = DATA / f"{lang}.txt"
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            out.append(line)
    return tuple(out)


def all_texts() -> list[str]:
    """Every phrase of every list (for checking against a dictionary)."""
    return [t for lang in LANGS for t in phrases(lang)]


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


# ------------------------------------------------------------------ numbers and codes

def price(rng: np.random.Generator, currency: str | None = None) -> str:
    currency = currency or _pick(rng, ("￥", "￥", "$", "€", "£"))
    value = float(rng.choice([rng.uniform(0.5, 30), rng.uniform(10, 300), rng.uniform(100, 5000)]))
    if currency == "￥" and rng.random() < 0.3:
        return f"{currency}{int(value)}"
    cents = _pick(rng, (0, 0, 50, 80, 90, 99, int(rng.integers(100))))
    if value >= 1000 and rng.random() < 0.5:
        return f"{currency}{int(value):,}.{cents:02d}"
    return f"{currency}{int(value)}.{cents:02d}"


def date(rng: np.random.Generator, lang: str = "en") -> str:
    y, m, d = int(rng.integers(2019, 2027)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    if lang in ("zh", "zh_tw", "ja") and rng.random() < 0.5:
        return f"{y}年{m}月{d}日"
    months = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    return _pick(rng, (f"{y}-{m:02d}-{d:02d}", f"{y}/{m:02d}/{d:02d}", f"{y}.{m:02d}.{d:02d}",
                       f"{d} {months[m - 1]} {y}", f"{m:02d}/{d:02d}/{y}"))


def clock(rng: np.random.Generator) -> str:
    h, m = int(rng.integers(0, 24)), int(rng.integers(0, 60))
    return f"{h:02d}:{m:02d}" if rng.random() < 0.6 else f"{h:02d}:{m:02d}:{int(rng.integers(60)):02d}"


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def phone(rng: np.random.Generator) -> str:
    kind = int(rng.integers(6))
    if kind == 0:
        return f"1{int(rng.integers(30, 90))}{_digits(rng, 8)}"
    if kind == 1:
        return f"1{int(rng.integers(30, 90))} {_digits(rng, 4)} {_digits(rng, 4)}"
    if kind == 2:
        return f"0{int(rng.integers(10, 999))}-{_digits(rng, 8)}"
    if kind == 3:
        return f"400-{_digits(rng, 3)}-{_digits(rng, 4)}"
    if kind == 4:
        return f"+86 1{int(rng.integers(30, 90))} {_digits(rng, 4)} {_digits(rng, 4)}"
    return f"({_digits(rng, 3)}) {_digits(rng, 3)}-{_digits(rng, 4)}"


def code(rng: np.random.Generator) -> str:
    kind = int(rng.integers(5))
    if kind == 0:
        return _digits(rng, int(rng.integers(10, 19)))
    if kind == 1:
        return f"No.{_digits(rng, 8)}"
    if kind == 2:
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        return f"{_pick(rng, letters)}{_pick(rng, letters)}{_digits(rng, 6)}"
    if kind == 3:
        return f"{_digits(rng, 4)}-{_digits(rng, 4)}-{_digits(rng, 4)}"
    return f"#{_digits(rng, 5)}"


# ------------------------------------------------------------------ labelled fields

_FIELDS = {
    "zh": {"phone": ("电话：", "联系电话：", "咨询热线：", "订餐电话 "), "date": ("日期：", "有效期至 ", "开具日期："),
           "time": ("时间：", "营业时间 "), "code": ("订单号：", "单号：", "流水号：", "会员卡号："),
           "total": ("合计：", "应付：", "实收：", "小计：", "总计 "), "price": ("单价：", "售价 ", "原价 ", "现价 ")},
    "zh_tw": {"phone": ("電話：", "訂位專線 "), "date": ("日期：",), "time": ("時間：",), "code": ("訂單編號：",),
              "total": ("合計：", "總計 "), "price": ("售價 ", "特價 ")},
    "ja": {"phone": ("電話 ", "お問い合わせ "), "date": ("日付 ", "発行日 "), "time": ("時刻 ",),
           "code": ("注文番号 ", "伝票番号 "), "total": ("合計 ", "小計 ", "お預り "), "price": ("税込 ", "価格 ")},
    "en": {"phone": ("Tel: ", "Phone ", "Call us ", "Hotline: "), "date": ("Date: ", "Valid until ", "Issued "),
           "time": ("Time: ", "Opens at "), "code": ("Order No. ", "Invoice ", "Ref: ", "Card "),
           "total": ("Total ", "Subtotal ", "Amount due ", "Balance "), "price": ("Price ", "Now only ", "Was ")},
}


def field(rng: np.random.Generator, lang: str, kind: str | None = None) -> str:
    kind = kind or _pick(rng, ("phone", "date", "time", "code", "total", "price"))
    label = _pick(rng, _FIELDS[lang][kind])
    value = {"phone": lambda: phone(rng), "date": lambda: date(rng, lang), "time": lambda: clock(rng),
             "code": lambda: code(rng), "total": lambda: price(rng, _currency(rng, lang)),
             "price": lambda: price(rng, _currency(rng, lang))}[kind]()
    return label + value


def _currency(rng: np.random.Generator, lang: str) -> str:
    if lang in ("zh", "ja"):
        return "￥"  # not "¥" (U+00A5): the same glyph in CJK fonts, and the model reads it as "￥"
    if lang == "zh_tw":
        return _pick(rng, ("$", "NT$"))
    return _pick(rng, ("$", "$", "€", "£"))


def item(rng: np.random.Generator, lang: str) -> tuple[str, str]:
    """A receipt or menu row: (name with quantity, price)."""
    name = _pick(rng, phrases(lang))
    while len(name) > (14 if lang != "en" else 26):
        name = _pick(rng, phrases(lang))
    r = rng.random()
    if r < 0.35:
        name = f"{name} x{int(rng.integers(1, 6))}"
    elif r < 0.5:
        name = f"{name} {int(rng.integers(1, 6))}×{price(rng, _currency(rng, lang))}"
    return name, price(rng, _currency(rng, lang))


def long_line(rng: np.random.Generator, lang: str, min_chars: int) -> str:
    """Phrases joined until the line has at least min_chars characters."""
    sep = {"zh": "，", "zh_tw": "，", "ja": "、", "en": ". "}[lang]
    parts: list[str] = []
    while sum(len(p) for p in parts) < min_chars:
        part = _pick(rng, phrases(lang))
        if part not in parts:
            parts.append(part)
    text = sep.join(parts)
    if lang == "en" and rng.random() < 0.5:
        text += "."
    return text


# ------------------------------------------------------------------ page themes

THEMES = ("notice", "menu", "receipt", "document", "mixed", "japanese", "traditional")


def page_lines(rng: np.random.Generator, theme: str, n: int) -> list:
    """About n entries for one page: each a Line or a (Line, Line) row (left text, right text)."""
    lang = {"notice": "zh", "menu": _pick(rng, ("zh", "zh", "en", "ja")), "receipt": _pick(rng, ("zh", "zh", "en")),
            "document": _pick(rng, ("en", "en", "zh")), "mixed": "zh", "japanese": "ja",
            "traditional": "zh_tw"}[theme]
    used: set[str] = set()

    def fresh(lang_: str) -> str:  # a phrase not used on this page yet (if one is left)
        for _ in range(20):
            text = _pick(rng, phrases(lang_))
            if text not in used:
                break
        used.add(text)
        return text

    # share of paragraph lines: running text cut at the column's width (the long lines of
    # documents, articles and screenshots)
    para_share = {"document": 0.6, "notice": 0.2, "japanese": 0.25, "mixed": 0.15, "traditional": 0.15}.get(theme, 0)
    out: list = [Line(fresh(lang), lang, "title")]
    while len(out) < n:
        r = rng.random()
        cur = lang
        if theme == "mixed":
            cur = _pick(rng, ("zh", "zh", "en", "en", "ja", "zh_tw"))
        if rng.random() < para_share:
            out.append(Line(long_line(rng, cur, 60 if cur != "en" else 130), cur, "para"))
        elif theme in ("menu", "receipt") and r < 0.55:
            name, cost = item(rng, cur)
            if rng.random() < 0.6:
                out.append((Line(name, cur), Line(cost, "en")))
            else:
                out.append(Line(f"{name} {cost}", cur))
        elif r < 0.25:
            out.append(Line(field(rng, cur), cur, "small" if rng.random() < 0.4 else "body"))
        elif r < 0.45 and theme != "receipt":
            min_chars = int(rng.integers(12, 26)) if cur != "en" else int(rng.integers(30, 60))
            out.append(Line(long_line(rng, cur, min_chars), cur))
        elif r < 0.5:
            out.append(Line(_pick(rng, (price(rng), date(rng, cur), phone(rng), code(rng), clock(rng))), "en"))
        else:
            out.append(Line(fresh(cur), cur, "small" if rng.random() < 0.3 else "body"))
    return out
