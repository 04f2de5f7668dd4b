"""Evaluation beyond AUC/F1: the French functional test suite and subgroup bias metrics.

* Functional suite (``data/functional_fr.csv``, evaluation only, never trained on): hand-written French
  cases, one ``functionality`` each (slurs, threats, coded hate, negation, counter-speech, reclaimed
  words, ...), ``label_gold`` ``hateful`` (a moderator should flag it: hate, threat or abuse) or
  ``non-hateful`` (should be left alone), and a ``target_group``. ``functional_table`` gives the share of
  cases the model gets right per functionality at the shipped threshold.
* Subgroup bias (the unintended-bias metrics of the Jigsaw bias challenge, Borkan et al. 2019): for each
  identity group, found in a text by ``IDENTITY_TERMS`` (one French keyword list, below):
  - subgroup AUC: AUC on the texts that mention the group;
  - BPSN AUC (background positive, subgroup negative): toxic texts *not* mentioning the group vs non-toxic
    texts mentioning it. Low = the model scores harmless mentions of the group too high;
  - BNSP AUC (background negative, subgroup positive): toxic texts mentioning the group vs non-toxic texts
    not mentioning it. Low = the model misses toxic texts about the group.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import numpy as np

FUNCTIONAL_FILE = Path(__file__).resolve().parents[2] / "data" / "functional_fr.csv"

# One definition of the identity groups, by French keywords (whole words, case- and accent-insensitive).
# Neutral names only: slurs are left out on purpose (with them, a group's rows are mostly insults and the
# metrics would measure slur detection, not how the model treats mentions of the group).
IDENTITY_TERMS: dict[str, list[str]] = {
    "women": [r"femmes?", r"filles?", r"meufs?", r"nanas?", r"gonzesses?", r"feministes?", r"feminisme",
              r"epouses?", r"meres?"],
    "muslims": [r"musulman(e|s|es)?", r"islam", r"islamiques?", r"islamistes?", r"islamisation", r"mosquees?",
                r"voilees?", r"imams?", r"ramadan", r"coran"],
    "jews": [r"juif|juifs|juive|juives", r"judaisme", r"synagogues?", r"israelites?", r"antisemit\w*", r"feujs?"],
    "black": [r"(les|des|de|un|une|aux|ces|personnes?|hommes?|femmes?|gens)\s+noir(e|s|es)?", r"blacks?",
              r"africain(e|s|es)?", r"renois?"],
    "arabs": [r"arabes?", r"maghrebin(e|s|es)?", r"rebeus?", r"beurs?", r"algerien(ne|s|nes)?",
              r"marocain(e|s|es)?", r"tunisien(ne|s|nes)?"],
    "roma": [r"roms?", r"roma", r"romanichel(le|s|les)?", r"tsiganes?", r"tziganes?",
             r"gitan(e|s|es)?", r"manouches?", r"gens\s+du\s+voyage"],
    "lgbt": [r"homos?", r"homosexuel(le|s|les)?", r"homosexualite", r"gays?", r"lesbiennes?", r"trans",
             r"transgenres?", r"lgbt\w*", r"queers?", r"bisexuel(le|s|les)?", r"homophob\w*",
             r"transphob\w*"],
    "immigrants": [r"immigr(e|es|s|ee|ees)", r"immigration", r"migrant(e|s|es)?", r"migratoires?",
                   r"refugie(e|s|es)?", r"etrangers?", r"etrangeres?", r"clandestins?",
                   r"sans-papiers", r"exile(e|s|es)?", r"demandeurs?\s+d'asile"],
    "disabled": [r"handicape(e|s|es)?", r"handicaps?", r"autistes?", r"autisme", r"trisomiques?", r"sourd(e|s|es)?",
                 r"aveugles?", r"fauteuil\s+roulant", r"paralympiques?"],
}


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in t if unicodedata.category(c) != "Mn").replace("’", "'")


_GROUP_RE = {g: re.compile(r"(?<!\w)(?:" + "|".join(terms) + r")(?!\w)") for g, terms in IDENTITY_TERMS.items()}


def identity_groups(text: str) -> set[str]:
    """The identity groups a text mentions (by ``IDENTITY_TERMS``)."""
    t = _fold(text)
    return {g for g, rx in _GROUP_RE.items() if rx.search(t)}


def _auc(y, s) -> float | None:
    y = np.asarray(y, dtype=int)
    if len(y) == 0 or y.min() == y.max():
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, np.asarray(s, dtype=float)))


def subgroup_auc(y, s, in_group) -> float | None:
    """AUC restricted to the texts that mention the group."""
    y, s, g = np.asarray(y), np.asarray(s), np.asarray(in_group, dtype=bool)
    return _auc(y[g], s[g])


def bpsn_auc(y, s, in_group) -> float | None:
    """Background positive, subgroup negative: toxic texts outside the group vs non-toxic texts in it."""
    y, s, g = np.asarray(y), np.asarray(s), np.asarray(in_group, dtype=bool)
    keep = (g & (y == 0)) | (~g & (y == 1))
    return _auc(y[keep], s[keep])


def bnsp_auc(y, s, in_group) -> float | None:
    """Background negative, subgroup positive: toxic texts in the group vs non-toxic texts outside it."""
    y, s, g = np.asarray(y), np.asarray(s), np.asarray(in_group, dtype=bool)
    keep = (g & (y == 1)) | (~g & (y == 0))
    return _auc(y[keep], s[keep])


def bias_table(texts: list[str], y, scores, min_rows: int = 1) -> dict[str, dict]:
    """Per identity group: n, positives, subgroup / BPSN / BNSP AUC (None when undefined)."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(scores, dtype=float)
    keep = ~np.isnan(y)
    texts = [t for t, k in zip(texts, keep) if k]
    y, s = y[keep].astype(int), s[keep]
    groups = [identity_groups(t) for t in texts]
    out = {}
    for g in IDENTITY_TERMS:
        m = np.array([g in gs for gs in groups], dtype=bool)
        if m.sum() < min_rows:
            continue
        out[g] = {"n": int(m.sum()), "positives": int(y[m].sum()), "subgroup_auc": subgroup_auc(y, s, m),
                  "bpsn_auc": bpsn_auc(y, s, m), "bnsp_auc": bnsp_auc(y, s, m)}
    return out


def read_functional(path: str | Path = FUNCTIONAL_FILE) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    need = {"case_id", "functionality", "label_gold", "target_group", "text"}
    if not rows or not need <= set(rows[0]):
        raise ValueError(f"{path}: a functional suite needs the columns {sorted(need)}")
    return rows


def functional_table(rows: list[dict], scores, threshold: float) -> dict:
    """Accuracy per functionality at ``threshold`` (hateful: flagged; non-hateful: left alone)."""
    s = np.asarray(scores, dtype=float)
    per: dict[str, dict] = {}
    for r, v in zip(rows, s):
        hateful = r["label_gold"] == "hateful"
        ok = (v >= threshold) == hateful
        d = per.setdefault(r["functionality"], {"label_gold": r["label_gold"], "n": 0, "correct": 0, "errors": []})
        d["n"] += 1
        d["correct"] += int(ok)
        if not ok:
            d["errors"].append(r["case_id"])
    for d in per.values():
        d["accuracy"] = d["correct"] / d["n"]
    hate = [r["label_gold"] == "hateful" for r in rows]
    total_ok = sum(int((v >= threshold) == h) for v, h in zip(s, hate))
    by_group: dict[str, dict] = {}
    for r, v in zip(rows, s):
        d = by_group.setdefault(r["target_group"], {"n": 0, "correct": 0})
        d["n"] += 1
        d["correct"] += int((v >= threshold) == (r["label_gold"] == "hateful"))
    for d in by_group.values():
        d["accuracy"] = d["correct"] / d["n"]
    return {"threshold": float(threshold), "n": len(rows), "accuracy": total_ok / max(1, len(rows)),
            "auc": _auc(np.array(hate, dtype=int), s), "functionalities": per, "target_groups": by_group}


def functional_targets_met(table: dict, hateful_min: float = 0.85, non_hateful_min: float = 0.80) -> bool:
    return all(d["accuracy"] >= (hateful_min if d["label_gold"] == "hateful" else non_hateful_min)
               for d in table["functionalities"].values())
