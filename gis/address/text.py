"""Text helpers of the address matcher: normalisation, numerals, group numbers, pinyin codes.

Everything here is pure and cheap; the matcher calls it once per distinct address.

* :func:`normalize` — NFKC (full-width → half-width), no spaces or punctuation, known
  region prefixes (甘肃省, 张掖市, 甘州区 …) stripped from the front, and noise that never
  names a grid removed: house numbers (12号, 3号院), distances (东100米), roads such as
  312国道, and location words (附近, 旁边, 对面 …; 村口 / 村头 → 村).
* :func:`parse_number` — Chinese or Arabic numerals (一, 十二, 二十, 廿一, 12) → int.
* :data:`GROUP_RE` — a villager-group mention: 三社, 3组, 第三社, 第3村民小组, 一队 ….
* :func:`phonetic` — each character replaced by a code of its pinyin (tones dropped), and a
  "fuzzy" code that also merges the initials and finals people confuse when typing or in
  dialect (z/zh, c/ch, s/sh, n/l, an/ang, en/eng, in/ing), so homophone typos (陈斋 for
  陈寨) compare equal. Codes are single private-use characters, so the coded strings align
  with the text and rapidfuzz can compare them directly.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from pypinyin import Style, lazy_pinyin

__all__ = ["GROUP_RE", "NUMERAL_CHARS", "ROAD_RE", "chinese_numeral", "normalize", "parse_number",
           "phonetic", "phonetic_variants", "strip_prefixes"]

NUMERAL_CHARS = "零〇一二两三四五六七八九十廿百"
"""Characters of Chinese numerals accepted in group numbers."""

_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
          "七": 7, "八": 8, "九": 9}
_SMALL = "零一二三四五六七八九"

GROUP_UNITS = ("村民小组", "生产队", "小组", "社", "组", "队")
"""Words that follow a group number: 社 / 组 / 队 / 小组 / 村民小组 / 生产队."""

GROUP_RE = re.compile(rf"第?([0-9]{{1,3}}|[{NUMERAL_CHARS}]{{1,4}})({'|'.join(GROUP_UNITS)})")
"""A villager-group mention; group 1 is the number, group 2 the unit word."""

_PUNCT_CATS = ("P", "S", "Z", "C")  # punctuation, symbols, separators, control characters

_NOISE_RES = (
    re.compile(rf"[0-9{NUMERAL_CHARS}]+(?:号院|号楼|号|栋|单元|室|户)"),   # 12号, 3号院
    re.compile(r"(?:向|往)?[东南西北]{0,2}(?:侧|边|面)?(?:约)?[0-9]+(?:米|公里|km|m)(?:处|左右)?"),
    re.compile(r"[0-9A-Za-z]*(?:国道|省道|县道|乡道|村道|高速)"),             # 312国道, G30高速
)
_NOISE_WORDS = ("附近", "旁边", "对面", "门口", "路口", "一带", "周边", "境内", "辖区内", "辖区",
                "东侧", "西侧", "南侧", "北侧", "以东", "以西", "以南", "以北", "交界处",
                "交界", "里面", "那边", "这边",
                # landmarks: they locate a place inside a grid but never name one
                "人民政府", "政府", "卫生院", "卫生室", "派出所", "小学", "中学", "学校", "幼儿园",
                "超市", "小卖部", "商店", "农贸市场", "市场", "集市", "文化广场", "广场", "加油站",
                "敬老院", "中心卫生院", "中心小学", "医院", "养殖场", "合作社", "便民服务中心",
                "党群服务中心", "服务中心")
ROAD_RE = re.compile(
    rf"[^|村镇乡社组队号0-9{NUMERAL_CHARS}]{{2}}(?:大道|大街|路|街(?!道)|巷)(?:口|旁|边)?")
"""A road name (滨河路, 县府街口): removed from what is left after the grid names are found,
so a road named after a village (陈滩路) still points to the village."""
_NOISE_RE = re.compile("|".join(sorted(_NOISE_WORDS, key=len, reverse=True)))
_VILLAGE_SPOT_RE = re.compile(r"村(?:口|头|尾|里|内|中)")


def parse_number(text: str) -> int | None:
    """Value of a group number written in Arabic or Chinese numerals, or None.

    Parameters
    ----------
    text : str
        ``"12"``, ``"十二"``, ``"一十二"``, ``"二十"``, ``"廿一"``, ``"两"``, ``"一二"`` (read
        digit by digit, = 12).

    Returns
    -------
    int or None
        None when ``text`` is empty or not a numeral.
    """
    if not text:
        return None
    if text.isdigit():
        return int(text)
    text = text.replace("廿", "二十")
    if "百" in text:
        head, _, rest = text.partition("百")
        h = _DIGIT.get(head, None) if head else 1
        r = parse_number(rest.lstrip("零〇")) if rest.strip("零〇") else 0
        return None if h is None or r is None else h * 100 + r
    if "十" in text:
        head, _, tail = text.partition("十")
        if "十" in tail or len(head) > 1 or len(tail) > 1:
            return None
        tens = _DIGIT.get(head) if head else 1
        ones = _DIGIT.get(tail) if tail else 0
        return None if tens is None or ones is None else tens * 10 + ones
    digits = [_DIGIT.get(c) for c in text]
    if any(d is None for d in digits):
        return None
    value = 0
    for d in digits:
        value = value * 10 + d  # type: ignore[operator]
    return value


def chinese_numeral(k: int) -> str:
    """Chinese numeral of ``k`` (1 … 99): 1 → 一, 10 → 十, 12 → 十二, 21 → 二十一."""
    if not 1 <= k <= 99:
        msg = f"chinese_numeral supports 1..99, got {k}; write larger numbers in digits"
        raise ValueError(msg)
    tens, ones = divmod(k, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _SMALL[tens] + "十")
    return head + (_SMALL[ones] if ones else "")


def strip_prefixes(text: str, prefixes: Iterable[str]) -> str:
    """``text`` without any of ``prefixes`` at its start, repeatedly (longest first)."""
    ordered = sorted(set(prefixes), key=len, reverse=True)
    changed = True
    while changed and text:
        changed = False
        for p in ordered:
            if p and text.startswith(p):
                text = text[len(p):]
                changed = True
                break
    return text


def normalize(address: object, prefixes: Iterable[str] = ()) -> str:
    """Canonical form of an address for matching and caching.

    Parameters
    ----------
    address : object
        The raw address; None / NaN give ``""``.
    prefixes : iterable of str
        Region names to strip from the front (province, city, county and their short forms).

    Returns
    -------
    str
        NFKC-normalised text without spaces, punctuation or noise (see the module doc).
    """
    if address is None or (isinstance(address, float) and math.isnan(address)):
        return ""
    text = unicodedata.normalize("NFKC", str(address))
    text = "".join(c for c in text if unicodedata.category(c)[0] not in _PUNCT_CATS)
    text = strip_prefixes(text, ("中国", "中华人民共和国", *prefixes))
    text = _VILLAGE_SPOT_RE.sub("村", text)
    for rx in _NOISE_RES:
        text = rx.sub("", text)
    return _NOISE_RE.sub("", text)


# --- pinyin codes ---------------------------------------------------------------------------

_CODES: dict[str, str] = {}


def _code(syllable: str) -> str:
    """One private-use character standing for a pinyin syllable (or a fuzzy key)."""
    c = _CODES.get(syllable)
    if c is None:
        c = _CODES[syllable] = chr(0xF0000 + len(_CODES))
    return c


def _fuzzy(syllable: str) -> str:
    for hard, soft in (("zh", "z"), ("ch", "c"), ("sh", "s")):
        if syllable.startswith(hard):
            syllable = soft + syllable[2:]
            break
    if syllable.startswith("n"):
        syllable = "l" + syllable[1:]
    if syllable.endswith(("ang", "eng", "ing")):
        syllable = syllable[:-1]
    return syllable


@lru_cache(maxsize=20_000)
def _char_codes(ch: str) -> tuple[str, str]:
    """(pinyin code, fuzzy pinyin code) of one character; non-Han characters code to themselves."""
    syl = lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0]
    if syl == ch:
        return ch, ch
    return _code(syl), _code("~" + _fuzzy(syl))


def phonetic(text: str) -> tuple[str, str]:
    """Pinyin-coded and fuzzy-pinyin-coded forms of ``text`` (same length as ``text``).

    Each character is read in its most common reading; see :func:`phonetic_variants` for
    all readings.
    """
    codes = [_char_codes(c) for c in text]
    return "".join(c[0] for c in codes), "".join(c[1] for c in codes)


PLACE_READINGS: dict[str, tuple[str, ...]] = {"堡": ("bao", "pu", "bu")}
"""Extra readings of characters that place names read differently (十里堡 = shilipu)."""


def phonetic_variants(text: str, limit: int = 8) -> list[tuple[str, str]]:
    """(pinyin code, fuzzy code) of ``text`` for its common reading and place-name readings.

    A gazetteer name such as 陈堡 (堡: bao / pu / bu, see :data:`PLACE_READINGS`) gets one
    coded form per reading, so a report written with any of them matches. Other
    heteronyms keep their most common reading only (沈 is shen, not chen), which avoids
    false homophones between names. At most ``limit`` combinations are returned.
    """
    combos: list[list[str]] = [[]]
    for ch in text:
        default = lazy_pinyin(ch, style=Style.NORMAL, errors="default")[0]
        readings = tuple(dict.fromkeys((default, *PLACE_READINGS.get(ch, ()))))
        combos = [c + [r] for c in combos for r in readings][:limit]
    out: dict[tuple[str, str], None] = {}
    for syls in combos:
        py = "".join(s if s == ch else _code(s) for s, ch in zip(syls, text, strict=True))
        fz = "".join(s if s == ch else _code("~" + _fuzzy(s))
                     for s, ch in zip(syls, text, strict=True))
        out[(py, fz)] = None
    return list(out)
