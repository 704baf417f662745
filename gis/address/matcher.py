"""Match free-text Chinese addresses to the most specific grid, with a confidence.

>>> m = AddressMatcher(Gazetteer.from_demo(demo))                        # doctest: +SKIP
>>> m.match("甘州区党寨镇李寨村三社")                                     # doctest: +SKIP
Match(code='620702105201003', level='group', confidence=1.0, status='matched',
      name='党寨镇李寨村三社')

How an address is read (after :func:`~gis.address.text.normalize`):

1. Group mentions (三社, 3组, 第三村民小组 …) are read as numbers and masked out.
2. Exact aliases of townships and villages are found by dictionary look-up of every
   substring, longest first (党寨镇, 陈寨村委会, bare 陈寨 …).
3. Road names are removed from what is left, which is then cut at unit words: text
   before 村 / 村委会 / 社区 is a village *slot*, text before 镇 / 乡 a township slot, other
   text a free segment. When no exact village was found, slots (else the start of free
   segments) are compared with every village name by rapidfuzz on three forms —
   characters, pinyin and fuzzy pinyin (homophones score 0.9, dialect homophones 0.75, a
   2-character name with one character wrong 0.5). A free segment counts less (×0.9, or
   ×0.75 when the address names neither a township nor a group).
4. A named township favours its own villages (others are scaled by ``1 - 0.4 × township
   confidence``). The best village's confidence is its score, scaled down in proportion
   when the runner-up is within :data:`~gis.settings.ADDRESS_MARGIN`; so a village name
   that exists in two townships goes to review unless the township is named.
5. ``matched`` when the confidence reaches :data:`~gis.settings.ADDRESS_MIN_CONFIDENCE`;
   then the group is added when its number exists in that village (an unknown group
   number leaves the match at the village). An address naming a village that cannot be
   resolved goes to ``review`` (its ``code`` is then the township, when that is certain,
   and its confidence that of the best village candidate, 0 if none);
   one naming only a township is matched to the township; one naming nothing known, or a
   place in another county (临泽县…), is ``unmatched`` (or ``review`` if something in it
   resembles a grid name).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from gis import settings
from gis.address.gazetteer import FuzzyTable, Gazetteer, Unit
from gis.address.text import GROUP_RE, ROAD_RE, normalize, parse_number, phonetic

__all__ = ["AddressMatcher", "Candidate", "Match"]

HOMOPHONE = 0.9
"""Weight of a pinyin (homophone) similarity against an exact character similarity."""
FUZZY_HOMOPHONE = 0.75
"""Weight of a fuzzy-pinyin similarity (z/zh, n/l, in/ing …)."""
FREE_SLOT = 0.9
"""Weight of a name found in text without a unit word after it (no 村 / 镇), in an address
that names a township or a group."""
LONE_SLOT = 0.75
"""Weight of such a name in an address with nothing else recognisable: a lone homophone of a
village name (效薄 ~ 肖堡) is too weak to match."""
OUTSIDE_TOWNSHIP = 0.4
"""How much a named township lowers the scores of villages outside it (times its confidence)."""
MAX_WINDOW = 4
"""Longest piece of a slot compared with the names (characters)."""
N_CANDIDATES = 5

_MASK = "|"
_MARK_RE = re.compile(
    r"(村民委员会|村村委会|村委会|村委|行政村|社区居委会|居委会|社区|村|镇|乡|街道)")
_VILLAGE_MARKS = frozenset(("村民委员会", "村村委会", "村委会", "村委", "行政村", "社区居委会",
                            "居委会", "社区", "村"))
_FOREIGN_RE = re.compile(r"^[^镇乡村社组0-9|]{2,6}?(?:省|自治区|市|自治州|地区|盟|县|区|旗)")


@dataclass(frozen=True)
class Candidate:
    """A possible grid for an address: code, level, full name, score in [0, 1]."""

    code: str
    level: str
    name: str
    score: float


@dataclass(frozen=True)
class Match:
    """Result of matching one address.

    Attributes
    ----------
    code : str or None
        The most specific grid identified: group code, else village, else township, else
        None. With status ``review`` it is only the part that is certain (the township, or
        None); the guesses are in ``candidates``.
    level : {"group", "village", "township"} or None
        Level of ``code``.
    confidence : float
        In [0, 1]; ``matched`` iff at least :data:`~gis.settings.ADDRESS_MIN_CONFIDENCE`.
    status : {"matched", "review", "unmatched"}
    candidates : tuple of Candidate
        The best few grids with their scores, best first.
    name : str or None
        Full name of ``code`` (党寨镇陈寨村三社).
    normalized : str
        The address as the matcher read it.
    """

    code: str | None
    level: str | None
    confidence: float
    status: str
    candidates: tuple[Candidate, ...] = field(default=(), repr=False)
    name: str | None = None
    normalized: str = field(default="", repr=False)


@dataclass
class _Read:
    """What one pass over an address found."""

    t_score: np.ndarray
    v_score: np.ndarray
    groups: list[int]
    named_group: dict[int, Unit]
    unexplained: bool
    foreign: bool


def _margin_conf(scores: np.ndarray) -> tuple[int, float, float]:
    """(best index, best score, confidence) of a score vector (see the module doc, step 4)."""
    if len(scores) == 0:
        return -1, 0.0, 0.0
    if len(scores) == 1:
        return 0, float(scores[0]), float(scores[0])
    top2 = np.argpartition(-scores, 1)[:2]
    i, j = (top2[0], top2[1]) if scores[top2[0]] >= scores[top2[1]] else (top2[1], top2[0])
    s1, s2 = float(scores[i]), float(scores[j])
    return int(i), s1, s1 * min(1.0, (s1 - s2) / settings.ADDRESS_MARGIN)


class AddressMatcher:
    """Matches addresses against a :class:`~gis.address.gazetteer.Gazetteer`, with a cache.

    Parameters
    ----------
    gazetteer : Gazetteer
    min_confidence : float, optional
        Default :data:`gis.settings.ADDRESS_MIN_CONFIDENCE` (read at each call if not given).
    cache_size : int, optional
        Default :data:`gis.settings.ADDRESS_CACHE_SIZE` distinct normalised addresses.
    """

    def __init__(self, gazetteer: Gazetteer, min_confidence: float | None = None,
                 cache_size: int | None = None) -> None:
        self.gazetteer = gazetteer
        self._min_confidence = min_confidence
        self.cache_size = settings.ADDRESS_CACHE_SIZE if cache_size is None else cache_size
        self._cache: OrderedDict[str, Match] = OrderedDict()

    @property
    def min_confidence(self) -> float:
        """Confidence from which a match is ``matched`` rather than ``review``."""
        return settings.ADDRESS_MIN_CONFIDENCE if self._min_confidence is None \
            else self._min_confidence

    # --- public API ------------------------------------------------------------------------

    def match(self, address: object) -> Match:
        """Match one address (see the module doc); cached by its normalised form."""
        norm = normalize(address, self.gazetteer.prefixes)
        hit = self._cache.get(norm)
        if hit is not None:
            self._cache.move_to_end(norm)
            return hit
        result = self._resolve(norm)
        self._cache[norm] = result
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return result

    def match_many(self, addresses: Iterable[object]) -> list[Match]:
        """Match many addresses; each distinct raw and normalised string is resolved once."""
        seen: dict[object, Match] = {}
        out: list[Match] = []
        for a in addresses:
            key = a if isinstance(a, str) else repr(a)
            m = seen.get(key)
            if m is None:
                m = seen[key] = self.match(a)
            out.append(m)
        return out

    def match_frame(self, addresses: Iterable[object]) -> pd.DataFrame:
        """:meth:`match_many` as a table: code, level, name, confidence, status."""
        ms = self.match_many(addresses)
        return pd.DataFrame({"code": [m.code for m in ms], "level": [m.level for m in ms],
                             "name": [m.name for m in ms],
                             "confidence": np.asarray([m.confidence for m in ms], dtype=float),
                             "status": [m.status for m in ms]})

    def clear_cache(self) -> None:
        """Forget every cached match (after changing settings)."""
        self._cache.clear()

    # --- reading ---------------------------------------------------------------------------

    def _read(self, norm: str) -> _Read:
        gaz = self.gazetteer
        chars = list(norm)
        groups: list[int] = []
        for m in GROUP_RE.finditer(norm):
            n = parse_number(m.group(1))
            if n:
                groups.append(n)
                chars[m.start():m.end()] = _MASK * (m.end() - m.start())
        text = "".join(chars)
        hits: list[tuple[int, int, float]] = []
        n = len(text)
        for i in range(n):
            if text[i] == _MASK:
                continue
            for length in gaz.alias_lengths:
                if i + length <= n and text[i:i + length] in gaz.aliases:
                    entries = gaz.aliases[text[i:i + length]]
                    hits.append((i, i + length, max(e.strength for e in entries)))
        hits.sort(key=lambda h: (h[0] - h[1], -h[2], h[0]))
        taken = [False] * n
        t_score = np.zeros(len(gaz.townships))
        v_score = np.zeros(len(gaz.villages))
        named_group: dict[int, Unit] = {}
        first_hit = n
        for a, b, _ in hits:
            if any(taken[a:b]):
                continue
            taken[a:b] = [True] * (b - a)
            first_hit = min(first_hit, a)
            for e in gaz.aliases[text[a:b]]:
                if e.level == "township":
                    t_score[e.index] = max(t_score[e.index], e.strength)
                elif e.level == "village":
                    v_score[e.index] = max(v_score[e.index], e.strength)
                else:
                    g = gaz.groups[e.index]
                    v_score[g.village] = max(v_score[g.village], e.strength)
                    named_group[g.village] = g
        residual = "".join(_MASK if taken[i] else c for i, c in enumerate(text))
        foreign_m = _FOREIGN_RE.match(norm)
        foreign = foreign_m is not None and foreign_m.end() <= first_hit
        context = bool(groups) or t_score.max(initial=0.0) > 0.0
        unexplained = self._fuzzy(residual, t_score, v_score, context)
        return _Read(t_score, v_score, groups, named_group, unexplained, foreign)

    def _fuzzy(self, residual: str, t_score: np.ndarray, v_score: np.ndarray,
               context: bool) -> bool:
        """Add fuzzy scores from the residual text in place; True if it names something.

        ``context``: the address names a township or a group, so a free segment is likely a
        village name (weight :data:`FREE_SLOT`, else :data:`LONE_SLOT`).
        """
        v_slots: list[str] = []
        t_slots: list[str] = []
        free: list[str] = []
        residual = ROAD_RE.sub(_MASK, residual)
        for run in residual.split(_MASK):
            if not run:
                continue
            parts = _MARK_RE.split(run)
            for k in range(0, len(parts) - 1, 2):
                seg, mark = parts[k], parts[k + 1]
                if len(seg) >= 2:
                    (v_slots if mark in _VILLAGE_MARKS else t_slots).append(seg)
            if len(parts[-1]) >= 2:
                free.append(parts[-1])
        gaz = self.gazetteer
        if v_score.max(initial=0.0) == 0.0:
            if v_slots:
                _score(gaz.village_table, _suffixes(v_slots), 1.0, v_score)
            elif free:
                _score(gaz.village_table, _prefixes(free), FREE_SLOT if context else LONE_SLOT,
                       v_score)
        if t_slots and t_score.max(initial=0.0) == 0.0:
            _score(gaz.township_table, _suffixes(t_slots), 1.0, t_score)
        return bool(v_slots or t_slots or free)

    # --- deciding --------------------------------------------------------------------------

    def _resolve(self, norm: str) -> Match:
        if not norm:
            return Match(None, None, 0.0, "unmatched", normalized=norm)
        r = self._read(norm)
        gaz = self.gazetteer
        floor = settings.ADDRESS_MIN_SIMILARITY
        thr = self.min_confidence
        r.t_score[r.t_score < floor] = 0.0
        r.v_score[r.v_score < floor] = 0.0
        ti, t1, tconf = _margin_conf(r.t_score)
        town = gaz.townships[ti] if tconf >= thr else None
        if r.v_score.max(initial=0.0) > 0.0:
            scores = r.v_score.copy()
            if t1 > 0.0:
                outside = gaz.village_township != ti
                scores[outside] *= 1.0 - OUTSIDE_TOWNSHIP * tconf
            vi, _, vconf = _margin_conf(scores)
            cands = self._village_candidates(scores, r)
            if r.foreign:  # a place of another county (临泽县…): never matched here
                return self._review(None, 0.0, cands, norm)
            if vconf >= thr:
                unit = self._deepest(vi, r)
                return Match(unit.code, unit.level, round(vconf, 4), "matched", cands,
                             unit.full_name, norm)
            return self._review(town, vconf, cands, norm)
        if t1 > 0.0:
            cands = tuple(Candidate(gaz.townships[i].code, "township", gaz.townships[i].name,
                                    round(float(r.t_score[i]), 4))
                          for i in np.argsort(-r.t_score)[:N_CANDIDATES] if r.t_score[i] > 0)
            if r.foreign:
                return self._review(None, 0.0, cands, norm)
            if r.unexplained or r.groups:  # names a village that is not found: confidence 0
                return self._review(town, 0.0, cands, norm)
            if town is not None:
                return Match(town.code, "township", round(tconf, 4), "matched", cands,
                             town.name, norm)
            return self._review(None, tconf, cands, norm)
        return Match(None, None, 0.0, "unmatched", normalized=norm)

    def _deepest(self, vi: int, r: _Read) -> Unit:
        """The group of village ``vi`` that the address names, else the village."""
        gaz = self.gazetteer
        if vi in r.named_group:
            return r.named_group[vi]
        for n in r.groups:
            g = gaz.group_of(vi, n)
            if g is not None:
                return g
        return gaz.villages[vi]

    def _village_candidates(self, scores: np.ndarray, r: _Read) -> tuple[Candidate, ...]:
        order = np.argsort(-scores, kind="stable")[:N_CANDIDATES]
        out = []
        for i in order:
            if scores[i] <= 0:
                break
            u = self._deepest(int(i), r)
            out.append(Candidate(u.code, u.level, u.full_name, round(float(scores[i]), 4)))
        return tuple(out)

    @staticmethod
    def _review(town: Unit | None, conf: float, cands: tuple[Candidate, ...],
                norm: str) -> Match:
        """A match for review: ``town`` (certain) as code, ``conf`` of the named grid."""
        if town is None:
            status = "review" if cands else "unmatched"
            return Match(None, None, round(conf, 4), status, cands, None, norm)
        return Match(town.code, "township", round(conf, 4), "review", cands, town.name, norm)


def _suffixes(segments: list[str]) -> list[str]:
    """Ends of slots (2 … MAX_WINDOW characters): the name stands right before its 村 / 镇."""
    return list(dict.fromkeys(s[-k:] for s in segments
                              for k in range(2, min(MAX_WINDOW, len(s)) + 1)))


def _prefixes(segments: list[str]) -> list[str]:
    """Starts of free segments (2 … MAX_WINDOW characters)."""
    return list(dict.fromkeys(s[:k] for s in segments
                              for k in range(2, min(MAX_WINDOW, len(s)) + 1)))


def _score(table: FuzzyTable, windows: list[str], weight: float, out: np.ndarray) -> None:
    """Raise ``out[unit]`` to the best similarity of any window with the unit's name."""
    if not windows or not table.chars:
        return
    coded = [phonetic(w) for w in windows]
    sim = process.cdist(windows, table.chars, scorer=Levenshtein.normalized_similarity)
    py = process.cdist([c[0] for c in coded], table.py, scorer=Levenshtein.normalized_similarity)
    fz = process.cdist([c[1] for c in coded], table.fz, scorer=Levenshtein.normalized_similarity)
    best = np.maximum(np.maximum(sim, HOMOPHONE * py), FUZZY_HOMOPHONE * fz).max(axis=0)
    np.maximum.at(out, table.owner, weight * best)
