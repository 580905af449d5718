"""notifier.text: folding is insensitive to case, NFC/NFD and tone placement; slugs are safe."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifier.text import clean, fold, fold_ascii, nfc, slugify

VIETNAMESE = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ "
words = st.text(alphabet=VIETNAMESE + VIETNAMESE.upper(), min_size=1, max_size=40)


@pytest.mark.parametrize(
    ("old", "new"),
    [("hoá", "hóa"), ("Thuỷ", "thủy"), ("hoà", "hòa"), ("khoẻ", "khỏe"), ("Qúy", "Quý"), ("uỷ ban", "ủy ban")],
)
def test_old_and_new_tone_placement_fold_alike(old: str, new: str) -> None:
    assert fold(old) == fold(new)


def test_different_tones_stay_different() -> None:
    assert fold("hóa") != fold("hòa")
    assert fold("Sở") != fold("So")


def test_fold_ignores_spaces_and_dashes() -> None:
    assert fold("Hội hữu nghị Việt Nam – Lào  tỉnh") == fold("hội Hữu Nghị Việt Nam - Lào tỉnh")


@given(words)
def test_fold_is_form_and_case_insensitive(text: str) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert fold(nfd) == fold(text) == fold(text.upper()) == fold(text.lower())


@given(words)
def test_fold_ascii_is_ascii(text: str) -> None:
    assert fold_ascii(text).isascii()


@given(st.text(max_size=200))
def test_slug_is_safe(text: str) -> None:
    slug = slugify(text)
    assert slug and slug.isascii() and "/" not in slug and "." not in slug
    assert slug == slugify(unicodedata.normalize("NFD", text))


def test_slug_of_unit_name() -> None:
    assert slugify("Sở Văn hóa, Thể thao và Du lịch") == "so-van-hoa-the-thao-va-du-lich"
    assert slugify("Đắk Lắk") == "dak-lak"


def test_clean_keeps_diacritics_and_normalises() -> None:
    decomposed = unicodedata.normalize("NFD", "Quý II/2024")
    assert clean(f"  {decomposed}\u200b ") == nfc("Quý II/2024")
    assert clean("Quý I – Quý II") == "Quý I - Quý II"
