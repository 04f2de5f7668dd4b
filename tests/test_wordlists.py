"""Word lists as a site relies on them: a listed word is found however it is disguised (case, accents,
leetspeak, spaced or dotted letters), never inside another word, with its span in the original text."""
from __future__ import annotations

import pytest

from core.wordlists import WordList, fold


@pytest.mark.parametrize("text", ["Quelle merde", "QUELLE MERDE", "quelle mêrdé", "quelle m3rde", "quelle m e r d e",
                                  "quelle m.e.r.d.e", "quelle M-E-R-D-E", "quelle m€rd3"])
def test_a_banned_word_is_found_through_disguises(text):
    hits = WordList(["merde"]).find(text)
    assert [h.term for h in hits] == ["merde"]
    assert text[hits[0].start:hits[0].end].lower().replace(" ", "").replace(".", "").replace("-", "") in (
        "merde", "mêrdé", "m3rde", "m€rd3")


def test_exclamation_marks_inside_a_word_read_as_i_but_not_at_its_end():
    words = WordList(["imbécile", "con"])
    assert [h.text for h in words.find("Espèce d'!mb3c!l3 !")] == ["!mb3c!l3"]
    assert [h.text for h in words.find("Quel con!")] == ["con"]


@pytest.mark.parametrize("text", ["le contexte", "une conférence", "Bacon", "on ne sait pas", "c o"])
def test_words_are_matched_whole(text):
    assert WordList(["con"]).find(text) == []


def test_phrases_ligatures_and_spans_point_into_the_original_text():
    words = WordList(["sale type", "cœur de pierre"])
    text = "Ce SALE  Type a un coeur de pierre."
    hits = words.find(text)
    assert [(h.term, h.text) for h in hits] == [("sale type", "SALE  Type"), ("cœur de pierre", "coeur de pierre")]
    folded, index = fold("Œuvre")
    assert folded == "oeuvre" and index[:3] == [0, 0, 1]
