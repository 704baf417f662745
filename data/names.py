"""Names for the synthetic demo: townships (real names of 甘州区), villages, groups, people.

Township names are the real township names of 甘州区; their seats are approximate and their
boundaries synthetic. Village, group and person names are generated: they look real but
stand for nobody and nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TownshipSpec:
    """A township of the demo county: name, kind (镇 or 乡), approximate seat (degrees)."""

    name: str
    kind: str
    lon: float
    lat: float

    @property
    def short(self) -> str:
        """Name without the 镇 / 乡 suffix (``平山湖蒙古族乡`` → ``平山湖``)."""
        base = self.name.removesuffix(self.kind)
        return base.removesuffix("蒙古族")


TOWNSHIPS: tuple[TownshipSpec, ...] = (
    TownshipSpec("梁家墩镇", "镇", 100.50, 38.90),
    TownshipSpec("上秦镇", "镇", 100.53, 38.98),
    TownshipSpec("新墩镇", "镇", 100.37, 38.95),
    TownshipSpec("长安镇", "镇", 100.42, 38.86),
    TownshipSpec("党寨镇", "镇", 100.60, 38.85),
    TownshipSpec("碱滩镇", "镇", 100.66, 38.93),
    TownshipSpec("三闸镇", "镇", 100.46, 39.04),
    TownshipSpec("乌江镇", "镇", 100.38, 39.11),
    TownshipSpec("明永镇", "镇", 100.28, 39.07),
    TownshipSpec("沙井镇", "镇", 100.26, 38.99),
    TownshipSpec("甘浚镇", "镇", 100.18, 38.89),
    TownshipSpec("小满镇", "镇", 100.38, 38.80),
    TownshipSpec("大满镇", "镇", 100.29, 38.80),
    TownshipSpec("龙渠乡", "乡", 100.25, 38.71),
    TownshipSpec("安阳乡", "乡", 100.40, 38.67),
    TownshipSpec("花寨乡", "乡", 100.50, 38.71),
    TownshipSpec("靖安乡", "乡", 100.56, 39.07),
    TownshipSpec("平山湖蒙古族乡", "乡", 100.72, 39.25),
)
"""The 18 townships of the demo, in code order (镇 101…, 乡 201…)."""

SURNAMES = tuple(
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严武戴孔汤常康牛")
"""Common Chinese surnames (one character each)."""

_SURNAME_P = np.linspace(3.0, 0.4, len(SURNAMES))
_SURNAME_P = _SURNAME_P / _SURNAME_P.sum()

GIVEN_CHARS = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国红梅志鹏飞云海燕峰"
    "晓东亮斌宁春生成林福荣德忠庆宏学宝娥琴凤花彩霞莲")
"""Characters of given names."""

VILLAGE_PREFIXES = tuple(dict.fromkeys(SURNAMES[:60] + tuple("东西南北上下中前后新古红沙河柳草石")))
"""First character of a village name: a surname or a place word."""

VILLAGE_SUFFIXES = tuple("寨庄堡湾滩闸墩洞渠坝")
"""Second character of a village name (settlement words common in the Hexi corridor)."""

_DIGITS = "零一二三四五六七八九"


def chinese_number(k: int) -> str:
    """Chinese numeral of ``k`` (1 … 99): 1 → 一, 10 → 十, 12 → 十二, 21 → 二十一."""
    if not 1 <= k <= 99:
        msg = f"chinese_number supports 1..99, got {k}"
        raise ValueError(msg)
    tens, ones = divmod(k, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _DIGITS[tens] + "十")
    return head + (_DIGITS[ones] if ones else "")


def village_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct village names such as 陈寨村, 西洞村 (prefix + settlement word + 村)."""
    combos = list(dict.fromkeys(p + s for p in VILLAGE_PREFIXES for s in VILLAGE_SUFFIXES))
    if n > len(combos):
        msg = f"only {len(combos)} distinct village names available, asked for {n}"
        raise ValueError(msg)
    pick = rng.choice(len(combos), size=n, replace=False)
    return [combos[i] + "村" for i in pick]


def group_names(n: int, unit: str = "社") -> list[str]:
    """Names of the ``n`` villager groups of a village: 一社, 二社, … (or 一组 …)."""
    return [chinese_number(k) + unit for k in range(1, n + 1)]


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` synthetic personal names (surname + one or two given characters)."""
    sur = np.asarray(SURNAMES)[rng.choice(len(SURNAMES), size=n, p=_SURNAME_P)]
    given = np.asarray(GIVEN_CHARS)
    g1 = given[rng.integers(0, len(given), n)]
    g2 = given[rng.integers(0, len(given), n)]
    two = rng.random(n) < 0.7
    names = np.char.add(np.char.add(sur, g1), np.where(two, g2, ""))
    return names.astype(object)
