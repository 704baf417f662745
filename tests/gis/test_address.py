"""Address matching: numerals, gazetteer aliases, known answers, and accuracy on noisy addresses.

The demo county (seed :data:`gis.settings.DEMO_SEED`) has, among others, 党寨镇 (620702105)
with 李寨村 (620702105201, groups 一社 … 十社), 曹寨村 (…202) and 草堡村 (…204); 上秦镇
(620702102) with 陈滩村 (620702102204, groups 一社 … 七社); and 平山湖蒙古族乡 (620702205).
"""

from __future__ import annotations

import pandas as pd
import pytest

from data.addresses import noisy_addresses
from data.demo import DemoCounty, build_demo
from gis import settings
from gis._errors import AddressError
from gis.address import AddressMatcher, Gazetteer, evaluate
from gis.address.text import normalize, parse_number

DANGZHAI = "620702105"
LIZHAI = "620702105201"
CAOZHAI = "620702105202"
CAOBAO = "620702105204"
SHANGQIN = "620702102"
CHENTAN = "620702102204"
PINGSHANHU = "620702205"


@pytest.fixture(scope="module")
def county() -> DemoCounty:
    """The demo county without incidents, built once for this module."""
    return build_demo(n_incidents=0)


@pytest.fixture(scope="module")
def gaz(county: DemoCounty) -> Gazetteer:
    return Gazetteer.build(county.townships, county.villages, county.groups,
                           county_name="甘州区", city="张掖市", province="甘肃省")


@pytest.fixture
def matcher(gaz: Gazetteer) -> AddressMatcher:
    return AddressMatcher(gaz)


# --- text helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("一", 1), ("十", 10), ("十二", 12), ("一十二", 12), ("二十", 20), ("二十一", 21),
    ("廿一", 21), ("两", 2), ("12", 12), ("03", 3), ("一二", 12), ("一百零五", 105),
    ("", None), ("社", None), ("十十", None)])
def test_parse_number(text: str, value: int | None) -> None:
    assert parse_number(text) == value


def test_normalize_strips_prefixes_and_noise() -> None:
    prefixes = ("甘肃省", "甘肃", "张掖市", "张掖", "甘州区", "甘州")
    raw = "甘肃省 张掖市，甘州区党寨镇李寨村三社１２号附近"
    assert normalize(raw, prefixes) == "党寨镇李寨村三社"
    assert normalize("李寨村口东200米", prefixes) == "李寨村"
    assert normalize(None) == "" and normalize(float("nan")) == ""


# --- gazetteer ------------------------------------------------------------------------------

def test_gazetteer_units_and_aliases(gaz: Gazetteer) -> None:
    assert (len(gaz.townships), len(gaz.villages), len(gaz.groups)) == (18, 248, 2450)
    li = gaz.unit(LIZHAI)
    assert (li.name, li.level, li.parent_code, li.full_name) == ("李寨村", "village", DANGZHAI,
                                                                 "党寨镇李寨村")
    g = gaz.group_of(li.index, 3)
    assert g is not None and (g.code, g.name, g.number) == (LIZHAI + "003", "三社", 3)
    for alias in ("李寨村", "李寨村委会", "李寨村民委员会", "李寨"):
        assert any(a.level == "village" and a.index == li.index for a in gaz.aliases[alias])
    for alias in ("党寨镇", "党寨乡", "党寨", "平山湖蒙古族乡", "平山湖乡", "平山湖"):
        assert gaz.aliases[alias][0].level == "township"
    assert gaz.prefixes == ("甘肃省", "甘肃", "张掖市", "张掖", "甘州区", "甘州")
    with pytest.raises(AddressError, match="no township, village or group"):
        gaz.unit("999")


def test_gazetteer_bad_input(county: DemoCounty) -> None:
    with pytest.raises(AddressError, match="lack column"):
        Gazetteer.build(county.townships, county.villages.drop(columns="parent_code"),
                        county.groups)
    orphans = county.groups.assign(parent_code="620702999999")
    with pytest.raises(AddressError, match="no village code"):
        Gazetteer.build(county.townships, county.villages, orphans)


def test_from_demo_reads_the_region_names(county: DemoCounty, gaz: Gazetteer) -> None:
    assert Gazetteer.from_demo(county).prefixes == gaz.prefixes


# --- known answers --------------------------------------------------------------------------

KNOWN = [
    # full addresses, with and without prefixes
    ("甘州区党寨镇李寨村三社", LIZHAI + "003", "group"),
    ("甘肃省张掖市甘州区党寨镇李寨村三社", LIZHAI + "003", "group"),
    ("上秦镇陈滩村五社", CHENTAN + "005", "group"),
    # aliases of villages, groups and townships; numerals
    ("党寨镇李寨村委会3组", LIZHAI + "003", "group"),
    ("党寨乡李寨村一队", LIZHAI + "001", "group"),
    ("党寨李寨第三村民小组", LIZHAI + "003", "group"),
    ("张掖市党寨镇李寨村第10社", LIZHAI + "010", "group"),
    ("李寨村民委员会", LIZHAI, "village"),
    # missing township (unique village name), noise
    ("李寨村三社", LIZHAI + "003", "group"),
    ("党寨镇李寨村三社12号附近", LIZHAI + "003", "group"),
    ("党寨镇李寨村三社滨河路旁王伟家", LIZHAI + "003", "group"),
    ("李寨村口东200米", LIZHAI, "village"),
    # typos: homophones (斋 for 寨, 铺 for 堡 read pu)
    ("党寨镇李斋村三社", LIZHAI + "003", "group"),
    ("党寨镇草铺村一组", CAOBAO + "001", "group"),
    # a group number the village does not have: the village
    ("李寨村二十五社", LIZHAI, "village"),
    # only a township
    ("党寨镇政府附近", DANGZHAI, "township"),
    ("平山湖乡", PINGSHANHU, "township"),
]


@pytest.mark.parametrize(("address", "code", "level"), KNOWN)
def test_known_answers(matcher: AddressMatcher, address: str, code: str, level: str) -> None:
    m = matcher.match(address)
    assert (m.code, m.level, m.status) == (code, level, "matched"), m
    assert settings.ADDRESS_MIN_CONFIDENCE <= m.confidence <= 1.0
    assert m.candidates[0].code == code
    assert m.name == matcher.gazetteer.unit(code).full_name


def test_exact_beats_typo_in_confidence(matcher: AddressMatcher) -> None:
    exact = matcher.match("党寨镇李寨村三社")
    typo = matcher.match("党寨镇李斋村三社")
    assert exact.confidence == 1.0 and typo.confidence < exact.confidence


@pytest.mark.parametrize("address", [
    "党寨镇李耳村三社",    # one unrelated character wrong in a 2-character name
    "党寨镇黑石村三社",    # no such village in 党寨镇
    "上秦镇李寨村三社",    # 李寨村 is in 党寨镇, not 上秦镇
    "党寨镇三社",          # a group without its village
    "李寨村到陈滩村之间",  # two villages
])
def test_doubtful_addresses_go_to_review(matcher: AddressMatcher, address: str) -> None:
    m = matcher.match(address)
    assert m.status == "review", m
    assert m.confidence < settings.ADDRESS_MIN_CONFIDENCE
    assert m.level in (None, "township")


def test_unresolved_village_keeps_the_certain_township(matcher: AddressMatcher) -> None:
    m = matcher.match("党寨镇黑石村三社")
    assert (m.code, m.level, m.status) == (DANGZHAI, "township", "review")


@pytest.mark.parametrize("address", ["胡说八道", "", None, "北京市朝阳区建国路88号",
                                     "临泽县沙河镇新华村三社", "地址不详"])
def test_nonsense_is_not_matched(matcher: AddressMatcher, address: str | None) -> None:
    m = matcher.match(address)
    assert m.status in ("unmatched", "review") and m.code is None, m
    if address in ("", None, "北京市朝阳区建国路88号"):
        assert m.status == "unmatched" and m.confidence == 0.0


def test_ambiguous_village_name_needs_its_township(county: DemoCounty) -> None:
    villages = county.villages.copy()
    villages.loc[villages["code"] == CAOZHAI, "name"] = "陈滩村"  # a second 陈滩村, in 党寨镇
    gaz = Gazetteer.build(county.townships, villages, county.groups, county_name="甘州区")
    matcher = AddressMatcher(gaz)
    m = matcher.match("陈滩村五社")
    assert m.status == "review" and m.code is None
    assert {c.code for c in m.candidates[:2]} == {CHENTAN + "005", CAOZHAI + "005"}
    assert matcher.match("上秦镇陈滩村五社").code == CHENTAN + "005"
    assert matcher.match("党寨镇陈滩村五社").code == CAOZHAI + "005"
    assert matcher.match("甘州区党寨陈滩村5组").code == CAOZHAI + "005"


def test_threshold_is_a_setting(gaz: Gazetteer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "ADDRESS_MIN_CONFIDENCE", 0.95)
    m = AddressMatcher(gaz).match("党寨镇李斋村三社")
    assert m.status == "review" and m.code == DANGZHAI
    assert AddressMatcher(gaz, min_confidence=0.5).match("党寨镇李斋村三社").status == "matched"


def test_match_many_equals_match_and_caches(gaz: Gazetteer) -> None:
    addresses = [a for a, _, _ in KNOWN] + ["胡说八道", None, "甘州区 党寨镇 李寨村 三社"]
    batch = AddressMatcher(gaz, cache_size=5)
    one = AddressMatcher(gaz)
    assert batch.match_many(addresses * 2) == [one.match(a) for a in addresses * 2]
    assert len(batch._cache) <= 5
    frame = one.match_frame(addresses)
    assert list(frame.columns) == ["code", "level", "name", "confidence", "status"]
    assert frame["code"].iloc[0] == LIZHAI + "003" and frame["code"].iloc[-1] == LIZHAI + "003"
    assert pd.isna(frame["code"].iloc[-3]) and frame["status"].iloc[-3] != "matched"


# --- noisy addresses and the evaluation --------------------------------------------------------

@pytest.fixture(scope="module")
def noisy(county: DemoCounty) -> pd.DataFrame:
    return noisy_addresses(county, n=1_000, seed=1)


def test_noisy_addresses_are_reproducible(county: DemoCounty, noisy: pd.DataFrame) -> None:
    assert list(noisy.columns) == ["address", "true_code", "true_level", "noise"]
    assert len(noisy) == 1_000
    pd.testing.assert_frame_equal(noisy.head(50), noisy_addresses(county, n=50, seed=1))
    tags = set(noisy["noise"].str.split("+").explode())
    assert {"missing_township", "missing_group", "alias_village", "alias_group", "numeral",
            "typo_homophone", "typo_random", "extra", "nonexistent_village", "nonsense",
            "township_only", "nonexistent_group"} <= tags
    real = noisy["true_code"].notna()
    assert noisy.loc[real, "true_code"].str.len().isin([9, 12, 15]).all()
    assert (noisy.loc[real, "true_level"].map({"township": 9, "village": 12, "group": 15})
            == noisy.loc[real, "true_code"].str.len()).all()


def test_accuracy_on_1000_noisy_addresses(matcher: AddressMatcher, noisy: pd.DataFrame) -> None:
    r = evaluate(matcher, noisy)
    assert r["n"] == 1_000
    assert r["correct"] >= 0.95, r
    assert r["wrong_above_threshold"] == 0.0, r
    total = r["correct"] + r["wrong_above_threshold"] + r["coarse"] + r["review"] + r["missed"]
    assert total == pytest.approx(1.0, abs=1e-3)
    assert r["by_noise"]["clean"]["correct"] == 1.0
    assert r["by_noise"]["typo_homophone"]["correct"] >= 0.9
    assert r["by_noise"]["typo_random"]["wrong"] == 0.0


def test_evaluate_needs_its_columns(matcher: AddressMatcher) -> None:
    with pytest.raises(AddressError, match="true_code"):
        evaluate(matcher, pd.DataFrame({"address": ["李寨村"]}))
