"""Seeded generator of noisy Chinese addresses with known answers, for the address matcher.

>>> df = noisy_addresses(build_demo(n_incidents=0), n=1_000, seed=1)   # doctest: +SKIP
>>> df.columns.tolist()                                                  # doctest: +SKIP
['address', 'true_code', 'true_level', 'noise']

Each row names a grid of the demo county the way people write it in reports, with a mix
of noise (the ``noise`` column lists the tags, joined by ``+``; ``clean`` for none):

==================== ===========================================================================
prefix               甘州区 / 张掖市甘州区 / 甘肃省张掖市甘州区 / 甘州 … in front
missing_township     no township (陈滩村五社)
alias_township       bare township (党寨) or 乡 / 镇 swapped (党寨乡)
alias_village        陈滩村委会, 陈滩村民委员会, bare 陈滩
missing_group        no group: the answer is the village
numeral              Arabic numbers or 第 (5社, 第五社, 第5村民小组)
alias_group          another group word (五组, 五队, 五小组, 第五村民小组 for 五社)
typo_homophone       one character of the village (or township) name replaced by a
                     homophone, as pinyin input does (陈滩 → 陈摊)
typo_fuzzy           … by a dialect near-homophone (z/zh, c/ch, s/sh, n/l, an/ang, en/eng, in/ing)
typo_random          … by an unrelated character
extra                house number, road, distance, landmark, a person's home, 附近, 村口 …
format               spaces, commas or full-width digits
township_only        only a township and a landmark: the answer is the township
nonexistent_group    a group number the village does not have: the answer is the village
nonexistent_village  a village that does not exist: no answer (``true_code`` None)
nonsense             another county, another city, or no place at all: no answer
==================== ===========================================================================

A typo never produces the exact name (or homophone under the same rule) of another unit,
and a made-up village never sounds like a real one: those would be undecidable even for a
person. Everything is SYNTHETIC.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from functools import lru_cache

import numpy as np
import pandas as pd
from pypinyin import Style, lazy_pinyin

from data.names import SURNAMES, VILLAGE_PREFIXES, VILLAGE_SUFFIXES, chinese_number
from gis import settings
from gis.address.text import PLACE_READINGS

__all__ = ["noisy_addresses"]

SPECIAL_SHARES = {"nonsense": 0.02, "nonexistent_village": 0.03, "nonexistent_group": 0.02,
                  "township_only": 0.03}
"""Share of rows of each special kind; the rest name a real group or village."""

P = {"prefix": 0.5, "missing_township": 0.3, "alias_township": 0.2, "alias_village": 0.4,
     "missing_group": 0.2, "numeral": 0.35, "alias_group": 0.3, "typo": 0.15, "extra": 0.35,
     "format": 0.1}
"""Probability of each kind of noise in a regular row (independently)."""

TYPO_KINDS = {"typo_homophone": 0.7, "typo_fuzzy": 0.15, "typo_random": 0.15}
"""Mix of typos: pinyin input makes homophones by far the most common."""

PREFIXES = ("甘州区", "张掖市甘州区", "甘肃省张掖市甘州区", "甘州", "张掖市", "甘肃张掖",
            "张掖甘州区")
GROUP_WORDS = ("社", "组", "队", "小组", "村民小组", "生产队")
VILLAGE_WORDS = ("村委会", "村民委员会", "")
ROADS = ("滨河路", "北环路", "南环路", "东环路", "西环路", "县府街", "青年西街", "民主东街",
         "312国道", "227国道", "乡道", "兴业路", "迎宾大道")
LANDMARKS = ("政府附近", "人民政府", "政府", "卫生院", "派出所", "中心小学", "集市", "敬老院",
             "农贸市场", "加油站旁边")
EXTRAS = ("{k}号", "附近", "{road}{k}号", "{road}旁", "东{k}00米", "{person}家", "{person}家门口",
          "小卖部", "卫生室旁边", "村口", "路口", "{k}号院", "北侧{k}0米处")
FAKE_NAMES = ("幸福", "红旗", "光明", "胜利", "新华", "团结", "东风", "前进", "和平", "永丰",
              "金星", "民主", "建设", "跃进", "五星", "向阳")
NONSENSE = ("临泽县沙河镇新华村三社", "山丹县清泉镇城北村{k}组", "兰州市城关区张掖路{k}号",
            "北京市朝阳区建国路{k}号", "高台县南华镇{k}号", "肃州区西峰乡{k}社", "不详",
            "地址不详", "路边", "未知", "{rand}", "{rand}{k}号", "民乐县洪水镇{k}号")
_GROUP_NAME_RE = re.compile(r"([一二三四五六七八九十]+)(社|组)")


@lru_cache(maxsize=1)
def _pool() -> tuple[str, ...]:
    """About 3,000 common characters (ranked by how many pypinyin phrases use them)."""
    from pypinyin.constants import PHRASES_DICT

    counts = Counter(ch for phrase in PHRASES_DICT for ch in phrase)
    return tuple(ch for ch, _ in counts.most_common(3000) if "\u4e00" <= ch <= "\u9fff")


def _py(ch: str) -> str:
    return lazy_pinyin(ch, style=Style.NORMAL)[0]


def _loose(syl: str) -> str:
    """Dialect-merged pinyin: z/zh, c/ch, s/sh, n/l, an/ang, en/eng, in/ing fall together."""
    for hard in ("zh", "ch", "sh"):
        if syl.startswith(hard):
            syl = hard[0] + syl[2:]
    if syl.startswith("n"):
        syl = "l" + syl[1:]
    return syl[:-1] if syl.endswith(("ang", "eng", "ing")) else syl


@lru_cache(maxsize=1)
def _by_sound() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    exact: dict[str, list[str]] = defaultdict(list)
    loose: dict[str, list[str]] = defaultdict(list)
    for ch in _pool():
        syl = _py(ch)
        exact[syl].append(ch)
        loose[_loose(syl)].append(ch)
    return dict(exact), dict(loose)


def _stem(name: str, words: tuple[str, ...]) -> str:
    for w in words:
        if name.endswith(w) and len(name) > len(w):
            return name[: -len(w)]
    return name


class _Gen:
    """State of one generation: the county's names and the random generator."""

    def __init__(self, demo: object, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t = demo.townships[["code", "name"]].reset_index(drop=True)  # type: ignore[attr-defined]
        self.v = demo.villages[["code", "name", "parent_code"]].reset_index(drop=True)  # type: ignore[attr-defined]
        self.g = demo.groups[["code", "name", "parent_code"]].reset_index(drop=True)  # type: ignore[attr-defined]
        self.t_name = dict(zip(self.t["code"], self.t["name"], strict=True))
        self.t_stem = {c: _stem(_stem(n, ("镇", "乡")), ("蒙古族",))
                       for c, n in self.t_name.items()}
        self.v_stem = dict(zip(self.v["code"], [_stem(n, ("村",)) for n in self.v["name"]],
                               strict=True))
        self.v_parent = dict(zip(self.v["code"], self.v["parent_code"], strict=True))
        self.n_groups = self.g.groupby("parent_code").size().to_dict()
        names = list(self.t_stem.values()) + list(self.v_stem.values())
        self.exact_names = set(names)
        self.by_sound: dict[str, set[str]] = defaultdict(set)
        self.sounds: set[str] = set()
        for s in names:
            self.by_sound[self._sound(s)].add(s)
            self.sounds.update(self._all_sounds(s))

    def pick(self, seq: tuple | list) -> object:
        return seq[int(self.rng.integers(len(seq)))]

    def coin(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    @staticmethod
    @lru_cache(maxsize=50_000)
    def _sound(text: str, loose: bool = False) -> str:
        syls = [_py(c) for c in text]
        return " ".join(_loose(s) if loose else s for s in syls)

    @staticmethod
    def _all_sounds(text: str) -> list[str]:
        """Sounds of ``text`` in every place-name reading (堡 = bao / pu / bu), exact and loose."""
        combos = [""]
        for ch in text:
            readings = dict.fromkeys((_py(ch), *PLACE_READINGS.get(ch, ())))
            combos = [f"{c} {r}".strip() for c in combos for r in readings]
        loose = [" ".join(_loose(s) for s in c.split()) for c in combos]
        return combos + loose

    def fill(self, template: str) -> str:
        k = int(self.rng.integers(1, 60))
        person = self.pick(SURNAMES[:40]) + self.pick(tuple("伟芳强磊军洋勇杰涛明超华"))
        rand = "".join(self.pick(_pool()) for _ in range(int(self.rng.integers(3, 7))))
        return template.format(k=k, road=self.pick(ROADS), person=person, rand=rand)

    def typo(self, stem: str, kind: str) -> str | None:
        """``stem`` with one character replaced, or None if no acceptable typo was found."""
        exact, loose = _by_sound()
        for _ in range(30):
            i = int(self.rng.integers(len(stem)))
            ch, syl = stem[i], _py(stem[i])
            if kind == "typo_homophone":
                pool = [c for c in exact.get(syl, []) if c != ch]
            elif kind == "typo_fuzzy":
                pool = [c for c in loose.get(_loose(syl), []) if _py(c) != syl]
            else:
                pool = list(_pool())
            if not pool:
                continue
            new = stem[:i] + self.pick(pool) + stem[i + 1:]
            if new == stem or new in self.exact_names:
                continue
            if kind == "typo_random" and (self._sound(new) in self.sounds
                                          or self._sound(new, loose=True) in self.sounds):
                continue
            if kind != "typo_random" and self._collides(new, stem):
                continue
            return new
        return None

    def _collides(self, new: str, stem: str) -> bool:
        """Whether ``new`` sounds exactly like a unit other than ``stem``."""
        return bool(self.by_sound.get(self._sound(new), set()) - {stem})

    def fake_stem(self) -> str:
        for _ in range(200):
            stem = (self.pick(FAKE_NAMES) if self.coin(0.3)
                    else self.pick(VILLAGE_PREFIXES) + self.pick(VILLAGE_SUFFIXES))
            if stem in self.exact_names or self._sound(stem) in self.sounds \
                    or self._sound(stem, loose=True) in self.sounds:
                continue
            return stem
        msg = "could not make up a village name that does not exist"
        raise RuntimeError(msg)

    def group_text(self, k: int, unit: str, tags: list[str]) -> str:
        num = chinese_number(k) if k < 100 else str(k)
        if self.coin(P["numeral"]):
            tags.append("numeral")
            num = self.pick((str(k), "第" + num, "第" + str(k)))
        if self.coin(P["alias_group"]):
            tags.append("alias_group")
            unit = self.pick(tuple(w for w in GROUP_WORDS if w != unit))
        return num + unit

    def township_text(self, tcode: str, tags: list[str]) -> str:
        name, stem = self.t_name[tcode], self.t_stem[tcode]
        if self.coin(P["alias_township"]):
            tags.append("alias_township")
            return self.pick((stem, stem + ("乡" if name.endswith("镇") else "镇")))
        return name

    def regular(self) -> tuple[str, str, str, list[str]]:
        g = self.g.iloc[int(self.rng.integers(len(self.g)))]
        vcode = g["parent_code"]
        tcode = self.v_parent[vcode]
        tags: list[str] = []
        vstem, tstem = self.v_stem[vcode], self.t_stem[tcode]
        missing_t = self.coin(P["missing_township"])
        typo_kind = None
        if self.coin(P["typo"]):
            typo_kind = str(self.rng.choice(list(TYPO_KINDS), p=list(TYPO_KINDS.values())))
            on_township = not missing_t and self.coin(0.2)
            new = self.typo(tstem if on_township else vstem, typo_kind)
            if new is not None:
                tags.append(typo_kind + ("_township" if on_township else ""))
                if on_township:
                    tstem = new
                else:
                    vstem = new
        parts = []
        if self.coin(P["prefix"]):
            tags.append("prefix")
            parts.append(self.pick(PREFIXES))
        if missing_t:
            tags.append("missing_township")
        else:
            t = self.township_text(tcode, tags)
            parts.append(t.replace(self.t_stem[tcode], tstem, 1))
        vword = "村"
        if self.coin(P["alias_village"]):
            tags.append("alias_village")
            vword = self.pick(VILLAGE_WORDS)
        parts.append(vstem + vword)
        code, level = g["code"], "group"
        if self.coin(P["missing_group"]):
            tags.append("missing_group")
            code, level = vcode, "village"
        else:
            m = _GROUP_NAME_RE.fullmatch(g["name"])
            k = int(g["code"][-3:]) if m is None else _cn_value(m.group(1))
            parts.append(self.group_text(k, m.group(2) if m else "社", tags))
        if self.coin(P["extra"]):
            tags.append("extra")
            extra = self.fill(self.pick(EXTRAS))
            if extra == "村口" and vword == "村" and level == "village":
                parts[-1] += "口"
            elif extra != "村口":
                parts.append(extra)
        return self.format(parts, tags), code, level, tags

    def format(self, parts: list[str], tags: list[str]) -> str:
        if not self.coin(P["format"]):
            return "".join(parts)
        tags.append("format")
        text = self.pick((" ", "，", ",", "、")).join(parts)
        return text.translate(str.maketrans("0123456789", "０１２３４５６７８９")) \
            if self.coin(0.5) else text

    def special(self, kind: str) -> tuple[str, str | None, str | None, list[str]]:
        if kind == "nonsense":
            return self.fill(self.pick(NONSENSE)), None, None, [kind]
        if kind == "township_only":
            tcode = self.t["code"].iloc[int(self.rng.integers(len(self.t)))]
            tags = [kind]
            return self.township_text(tcode, tags) + self.pick(LANDMARKS), tcode, "township", tags
        vcode = self.v["code"].iloc[int(self.rng.integers(len(self.v)))]
        tcode = self.v_parent[vcode]
        tags = [kind]
        town = "" if self.coin(P["missing_township"]) else self.township_text(tcode, tags)
        if kind == "nonexistent_village":
            k = int(self.rng.integers(1, 10))
            vtext = self.fake_stem() + self.pick(("村", "村", "村委会"))
            group = self.group_text(k, "社", tags) if self.coin(0.7) else ""
            return town + vtext + group, None, None, tags
        k = self.n_groups.get(vcode, 0) + int(self.rng.integers(1, 6))
        return town + self.v_stem[vcode] + "村" + self.group_text(k, "社", tags), vcode, \
            "village", tags


def _cn_value(text: str) -> int:
    digits = "一二三四五六七八九"
    if "十" not in text:
        return digits.index(text) + 1
    head, _, tail = text.partition("十")
    return (digits.index(head) + 1 if head else 1) * 10 + (digits.index(tail) + 1 if tail else 0)


def noisy_addresses(demo: object, n: int = 1_000, seed: int = settings.DEMO_SEED) -> pd.DataFrame:
    """``n`` noisy addresses of the grids of ``demo`` with their true grid.

    Parameters
    ----------
    demo : DemoCounty
        Anything with ``townships``, ``villages`` (code, name, parent_code) and ``groups``
        (code, name, parent_code) tables, e.g. ``build_demo(n_incidents=0)``.
    n : int
        Number of rows.
    seed : int
        Seed; the same seed and county give the same rows.

    Returns
    -------
    DataFrame
        ``address``; ``true_code`` and ``true_level`` ("group", "village", "township", or
        None when the address names no existing grid); ``noise`` (tags joined by ``+``, see
        the module doc).
    """
    if n < 0:
        msg = f"noisy_addresses: n must be >= 0, got {n}"
        raise ValueError(msg)
    gen = _Gen(demo, np.random.default_rng([seed, 5]))
    kinds = list(SPECIAL_SHARES)
    cum = np.cumsum(list(SPECIAL_SHARES.values()))
    rows = []
    for _ in range(n):
        r = gen.rng.random()
        pos = int(np.searchsorted(cum, r, side="right"))
        address, code, level, tags = gen.special(kinds[pos]) if pos < len(kinds) \
            else gen.regular()
        rows.append((address, code, level, "+".join(tags) or "clean"))
    return pd.DataFrame(rows, columns=["address", "true_code", "true_level", "noise"])
