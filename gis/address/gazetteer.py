"""Gazetteer of the grid names of a county: every township, village and group with its aliases.

>>> gaz = Gazetteer.build(d.townships, d.villages, d.groups, county_name="甘州区",
...                       city="张掖市", province="甘肃省")           # doctest: +SKIP
>>> gaz.unit("620702105201").full_name                                 # doctest: +SKIP
'党寨镇李寨村'

Aliases (each with a strength: 1.0 for a name with its unit word, less for a bare name):

* township 党寨镇: 党寨镇, 党寨乡 (镇 / 乡 are often confused), 党寨 (0.9); ethnic words are
  optional (平山湖蒙古族乡 = 平山湖乡 = 平山湖).
* village 陈寨村: 陈寨村, 陈寨村委会, 陈寨村委, 陈寨村民委员会, 陈寨村村民委员会, 陈寨行政村,
  陈寨 (0.95); a 社区 gets 社区 / 社区居委会 / 居委会.
* numbered groups (三社, 五组) are not aliases: the matcher reads any group mention (三社,
  3组, 第三社, 第3村民小组, 三队 …) as a number and looks it up in its village
  (:meth:`Gazetteer.group_code`), so 一社 = 1社 = 第一社 = 一组 = 1组 = 第1村民小组.
  Groups with a proper name (王家庄) are aliases of strength 0.9.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gis._errors import AddressError
from gis.address.text import GROUP_RE, parse_number, phonetic_variants

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Alias", "FuzzyTable", "Gazetteer", "Unit"]

LEVELS = ("township", "village", "group")
"""Levels of the gazetteer, coarse to fine."""

ETHNIC = ("蒙古族", "回族", "藏族", "裕固族", "哈萨克族", "土族", "东乡族", "保安族", "撒拉族",
          "满族", "土家族", "苗族", "彝族", "壮族")
"""Ethnic words that may be left out of a township name (平山湖蒙古族乡 → 平山湖乡)."""

TOWNSHIP_SUFFIXES = ("街道办事处", "街道办", "街道", "办事处", "民族乡", "镇", "乡", "苏木")
VILLAGE_SUFFIXES = ("村民委员会", "村委会", "社区居委会", "居委会", "社区", "村")
VILLAGE_ALIASES = ("村", "村委会", "村委", "村民委员会", "村村委会", "村村民委员会", "行政村")
COMMUNITY_ALIASES = ("社区", "社区居委会", "居委会")
BARE_TOWNSHIP = 0.9
"""Strength of a township's bare name (党寨)."""
BARE_VILLAGE = 0.95
"""Strength of a village's bare name (陈寨)."""
NAMED_GROUP = 0.9
"""Strength of a group's proper name (王家庄)."""


@dataclass(frozen=True)
class Unit:
    """One unit of the gazetteer.

    ``index`` is its position in :attr:`Gazetteer.townships` / ``villages`` / ``groups``;
    ``township`` / ``village`` are the indices of its ancestors (its own index at its own
    level, -1 below it); ``number`` is a group's number (三社 → 3) or None.
    """

    code: str
    name: str
    level: str
    parent_code: str | None
    full_name: str
    index: int
    township: int
    village: int
    number: int | None = None


@dataclass(frozen=True)
class Alias:
    """A string that names a unit exactly: ``level`` and ``index`` of the unit, ``strength``."""

    level: str
    index: int
    strength: float


@dataclass(frozen=True)
class FuzzyTable:
    """Names of one level as rows for rapidfuzz: the stem, its pinyin code and fuzzy code.

    A unit has one row per reading of its name (:func:`~gis.address.text.phonetic_variants`);
    ``owner[i]`` is the unit index of row ``i``.
    """

    chars: list[str]
    py: list[str]
    fz: list[str]
    owner: np.ndarray

    @classmethod
    def of(cls, stems: list[str]) -> FuzzyTable:
        """Rows of ``stems`` (one per unit, in unit order)."""
        chars: list[str] = []
        py: list[str] = []
        fz: list[str] = []
        owner: list[int] = []
        for i, stem in enumerate(stems):
            for p, f in phonetic_variants(stem):
                chars.append(stem)
                py.append(p)
                fz.append(f)
                owner.append(i)
        return cls(chars, py, fz, np.asarray(owner, dtype=np.int64))


def township_stem(name: str) -> str:
    """Name without its unit word and ethnic words: 平山湖蒙古族乡 → 平山湖, 党寨镇 → 党寨."""
    for suf in TOWNSHIP_SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf):
            name = name[: -len(suf)]
            break
    for eth in ETHNIC:
        if name.endswith(eth) and len(name) > len(eth):
            return name[: -len(eth)]
    return name


def village_stem(name: str) -> tuple[str, bool]:
    """(name without 村 / 社区 …, whether it is a 社区): 陈寨村 → (陈寨, False)."""
    for suf in VILLAGE_SUFFIXES:
        if name.endswith(suf) and len(name) > len(suf):
            return name[: -len(suf)], suf in ("社区", "社区居委会", "居委会")
    return name, False


def region_prefixes(county_name: str, city: str, province: str) -> tuple[str, ...]:
    """Full and short forms of the region names an address may start with."""
    out: list[str] = []
    province_sufs = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
    for name, sufs in ((province, province_sufs),
                       (city, ("地区", "自治州", "盟", "市")),
                       (county_name, ("自治县", "自治旗", "县", "区", "市", "旗"))):
        if not name:
            continue
        out.append(name)
        for suf in sufs:
            if name.endswith(suf) and len(name) - len(suf) >= 2:
                out.append(name[: -len(suf)])
                break
    return tuple(dict.fromkeys(out))


def _frame(df: pd.DataFrame, what: str, need_parent: bool) -> pd.DataFrame:
    cols = ["code", "name"] + (["parent_code"] if need_parent else [])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        msg = (f"Gazetteer.build: {what} lack column(s) {missing}; give a table with "
               f"columns {cols} (e.g. demo.{what})")
        raise AddressError(msg)
    out = df[[c for c in cols]].copy()
    for c in cols:
        out[c] = out[c].astype(str).str.strip()
    bad = out["name"].isin(["", "nan", "None"])
    if bad.any():
        msg = (f"Gazetteer.build: {int(bad.sum())} {what} have no name (first code "
               f"{out.loc[bad, 'code'].iloc[0]}); fill in their names")
        raise AddressError(msg)
    dup = out["code"].duplicated()
    if dup.any():
        msg = (f"Gazetteer.build: duplicate {what} code {out.loc[dup, 'code'].iloc[0]}; codes "
               "must be unique")
        raise AddressError(msg)
    return out.reset_index(drop=True)


class Gazetteer:
    """Townships, villages and groups of one county with their aliases; build with :meth:`build`.

    Attributes
    ----------
    townships, villages, groups : list of Unit
        The units of each level, in input order.
    aliases : dict
        Exact alias string → list of :class:`Alias`.
    alias_lengths : tuple of int
        Lengths of the alias strings, longest first.
    prefixes : tuple of str
        Region names stripped from the front of addresses (甘肃省, 甘肃, 张掖市 …).
    township_table, village_table : FuzzyTable
        Stems for fuzzy and homophone matching.
    village_township : numpy.ndarray
        Township index of each village.
    """

    def __init__(self, townships: list[Unit], villages: list[Unit], groups: list[Unit],
                 prefixes: tuple[str, ...]) -> None:
        self.townships = townships
        self.villages = villages
        self.groups = groups
        self.prefixes = prefixes
        self._by_code = {u.code: u for u in (*townships, *villages, *groups)}
        self._groups_by_number: dict[tuple[int, int], int] = {
            (g.village, g.number): g.index for g in groups if g.number is not None}
        self.aliases: dict[str, list[Alias]] = defaultdict(list)
        t_stems = [township_stem(t.name) for t in townships]
        for t, stem in zip(townships, t_stems, strict=True):
            full = [t.name, stem + "镇", stem + "乡"]
            full += [stem + eth + "乡" for eth in ETHNIC if eth in t.name]
            for a in full:
                self._add(a, Alias("township", t.index, 1.0))
            if len(stem) >= 2:
                self._add(stem, Alias("township", t.index, BARE_TOWNSHIP))
        v_stems = []
        for v in villages:
            stem, community = village_stem(v.name)
            v_stems.append(stem)
            self._add(v.name, Alias("village", v.index, 1.0))
            for suf in COMMUNITY_ALIASES if community else VILLAGE_ALIASES:
                self._add(stem + suf, Alias("village", v.index, 1.0))
            if len(stem) >= 2:
                self._add(stem, Alias("village", v.index, BARE_VILLAGE))
        for g in groups:
            if g.number is None and len(g.name) >= 2:
                self._add(g.name, Alias("group", g.index, NAMED_GROUP))
        self.aliases = dict(self.aliases)
        self.alias_lengths = tuple(sorted({len(a) for a in self.aliases}, reverse=True))
        self.township_stems = t_stems
        self.village_stems = v_stems
        self.township_table = FuzzyTable.of(t_stems)
        self.village_table = FuzzyTable.of(v_stems)
        self.village_township = np.asarray([v.township for v in villages], dtype=np.int64)
        self.group_count = np.bincount([g.village for g in groups], minlength=len(villages))

    def _add(self, alias: str, entry: Alias) -> None:
        entries = self.aliases[alias]
        for i, e in enumerate(entries):
            if (e.level, e.index) == (entry.level, entry.index):
                if entry.strength > e.strength:
                    entries[i] = entry
                return
        entries.append(entry)

    @classmethod
    def build(cls, townships: pd.DataFrame, villages: pd.DataFrame, groups: pd.DataFrame,
              county_name: str = "", city: str = "", province: str = "") -> Gazetteer:
        """Gazetteer of the grid units of one county.

        Parameters
        ----------
        townships : DataFrame
            Columns ``code``, ``name`` (党寨镇); other columns are ignored.
        villages, groups : DataFrame
            Columns ``code``, ``name``, ``parent_code`` (the township / village code).
        county_name, city, province : str
            Region names (甘州区, 张掖市, 甘肃省); they and their short forms (甘州, 张掖,
            甘肃) are stripped from the front of addresses.

        Returns
        -------
        Gazetteer

        Raises
        ------
        AddressError
            A column is missing, a name is empty, a code repeats, or a parent code is unknown.
        """
        tdf = _frame(townships, "townships", need_parent=False)
        vdf = _frame(villages, "villages", need_parent=True)
        gdf = _frame(groups, "groups", need_parent=True)
        t_units = [Unit(c, n, "township", None, n, i, i, -1)
                   for i, (c, n) in enumerate(zip(tdf["code"], tdf["name"], strict=True))]
        t_idx = {u.code: u.index for u in t_units}
        v_units = []
        for i, (c, n, p) in enumerate(zip(vdf["code"], vdf["name"], vdf["parent_code"],
                                          strict=True)):
            if p not in t_idx:
                msg = (f"Gazetteer.build: village {c} {n} has parent_code {p}, which is no "
                       "township code; fix its parent_code or add the township")
                raise AddressError(msg)
            t = t_units[t_idx[p]]
            v_units.append(Unit(c, n, "village", p, t.name + n, i, t.index, i))
        v_idx = {u.code: u.index for u in v_units}
        g_units = []
        for i, (c, n, p) in enumerate(zip(gdf["code"], gdf["name"], gdf["parent_code"],
                                          strict=True)):
            if p not in v_idx:
                msg = (f"Gazetteer.build: group {c} {n} has parent_code {p}, which is no "
                       "village code; fix its parent_code or add the village")
                raise AddressError(msg)
            v = v_units[v_idx[p]]
            m = GROUP_RE.fullmatch(n)
            number = parse_number(m.group(1)) if m else None
            g_units.append(Unit(c, n, "group", p, v.full_name + n, i, v.township, v.index,
                                number))
        return cls(t_units, v_units, g_units, region_prefixes(county_name, city, province))

    @classmethod
    def from_demo(cls, demo: object) -> Gazetteer:
        """Gazetteer of a :class:`data.demo.DemoCounty`; region names from ``demo.county``."""
        county = demo.county.iloc[0]  # type: ignore[attr-defined]
        return cls.build(demo.townships, demo.villages, demo.groups,  # type: ignore[attr-defined]
                         county_name=str(county.get("name", "")), city=str(county.get("city", "")),
                         province=str(county.get("province", "")))

    def unit(self, code: str) -> Unit:
        """The unit of ``code``; raises :class:`~gis._errors.AddressError` when unknown."""
        try:
            return self._by_code[str(code)]
        except KeyError:
            msg = f"no township, village or group has code {code!r} in this gazetteer"
            raise AddressError(msg) from None

    def group_of(self, village: int, number: int) -> Unit | None:
        """Group number ``number`` of village index ``village`` (三社 → 3), or None."""
        g = self._groups_by_number.get((village, number))
        return None if g is None else self.groups[g]

    def __len__(self) -> int:
        return len(self._by_code)

    def __repr__(self) -> str:
        return (f"Gazetteer({len(self.townships)} townships, {len(self.villages)} villages, "
                f"{len(self.groups)} groups, {len(self.aliases)} aliases)")
