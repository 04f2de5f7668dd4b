"""Synthetic French TRAINING rows: minimal pairs for negation, counter-speech, reporting, quoted slurs and
profanity (issue 9), written for this project.

Training only, written separately from the functional test suite (data/functional_fr.csv, evaluation only)
and from data/make_synthetic_fr.py: its own sentence frames, claims, group names and vocabulary (a test checks
that no text is shared with the suite). Deterministic (fixed seed):

    python data/make_contrast_fr.py data/contrast_fr.csv

Idea: the same hateful claim about a group appears in rows of both labels, and only the frame decides:
asserted (toxic) vs negated, quoted to denounce it, or reported as news (non-toxic). Every claim is filled with
every group, protected or not (counterfactual: a group's name alone carries no signal). Slurs: aimed at someone
(toxic) vs mentioned as the word someone was called (non-toxic). Profanity: as an exclamation or aimed at a
thing (non-toxic) vs aimed at a person (toxic). Columns: text, toxicity, identity_attack, template, group, pair
(rows built from the same claim share ``pair``).
"""
import csv
import random
import sys

GROUPS = {
    "women": ["femmes", "filles"],
    "muslims": ["musulmans", "croyants musulmans"],
    "jews": ["personnes juives", "Juifs de France"],
    "black": ["Noirs", "Antillais"],
    "arabs": ["Arabes", "Maghrébins"],
    "roma": ["Roms", "Tsiganes"],
    "lgbt": ["gays", "lesbiennes", "personnes trans"],
    "immigrants": ["migrants", "étrangers"],
    "disabled": ["personnes handicapées", "malades mentaux"],
    "control": ["Bretons", "Corses", "retraités", "Belges", "catholiques", "Parisiens"],
}

# (asserted predicate = hateful, negated predicate = not hateful); "les {n}" precedes both
CLAIMS = [
    ("sont des profiteurs nuisibles", "ne sont pas des profiteurs nuisibles"),
    ("sont des sous-hommes", "ne sont pas des sous-hommes"),
    ("valent moins que les autres", "ne valent pas moins que les autres"),
    ("mentent tous comme ils respirent", "ne mentent pas plus que les autres"),
    ("vivent aux crochets de la société", "ne vivent pas aux crochets de la société"),
    ("devraient perdre le droit de vote", "ne devraient pas perdre le droit de vote"),
    ("n'ont pas leur place dans ce pays", "ont toute leur place dans ce pays"),
    ("méritent qu'on leur casse la gueule", "ne méritent pas qu'on leur fasse le moindre mal"),
    ("sont une menace pour nos enfants", "ne sont pas une menace pour nos enfants"),
    ("sont une honte pour la France", "ne sont pas une honte pour la France"),
    ("devraient être virés de nos villes", "ne devraient être virés de nulle part"),
    ("sont des animaux", "ne sont pas des animaux"),
]

ASSERT = [  # toxic: the claim is the writer's own
    "Les {n} {p}, c'est un fait.",
    "Je le redis : les {n} {p}.",
    "Ouvrez les yeux, les {n} {p}.",
    "Tout le monde le sait, les {n} {p}.",
    "Les {n} {p}, et ça ne changera jamais.",
]
NEGATE = [  # not toxic: the claim is negated
    "Stop aux clichés : les {n} {q}.",
    "Il faut le répéter : les {n} {q}.",
    "Évidemment que les {n} {q}.",
    "Contrairement à ce qu'on lit ici, les {n} {q}.",
]
DENOUNCE = [  # not toxic: the claim is quoted to denounce it
    "Écrire que les {n} {p}, c'est tomber dans la haine la plus bête.",
    "J'ai signalé ce compte qui affirmait que les {n} {p}.",
    "Ceux qui répètent que les {n} {p} devraient avoir honte.",
    "Lire en 2026 que les {n} {p}, ça me désole profondément.",
    "Il est faux et dangereux de prétendre que les {n} {p}.",
]
REPORT = [  # not toxic: the claim is reported as news
    "Le prévenu avait publié que les {n} {p} ; il a été condamné à une amende.",
    "D'après la police, des tracts affirmant que les {n} {p} ont été distribués devant la gare.",
    "Le rapport de la commission cite des messages selon lesquels les {n} {p}.",
    "L'élu est poursuivi pour avoir déclaré en conseil municipal que les {n} {p}.",
]

# slurs, by group: aimed at someone (toxic) vs mentioned (not toxic)
SLURS = {
    "arabs": ["bicot", "raton"], "jews": ["youpin"], "black": ["négro", "bamboula"],
    "lgbt": ["tapette", "gouine", "pédale"], "roma": ["romano"], "disabled": ["mongol"],
    "muslims": ["muzz"], "women": ["salope"], "immigrants": ["clandos"],
}
SLUR_AT = [
    "Dégage d'ici, espèce de {w}.",
    "Encore un {w} qui vient nous faire la leçon.",
    "Toi le {w}, personne ne t'a sonné.",
    "Ferme ta bouche, {w} de mes deux.",
]
SLUR_MENTION = [
    "Un inconnu a hurlé « {w} » à ma sœur dans le tram, nous avons porté plainte.",
    "Le mot « {w} » est une insulte, il n'a rien à faire dans un débat.",
    "Le défenseur a été suspendu cinq matchs pour avoir lancé « {w} » à un adversaire.",
    "Elle raconte dans son livre comment on l'appelait « {w} » à l'école.",
]

PROFANITY_OK = [
    "Putain, quel but en pleine lucarne !", "Bordel, ce concert était énorme.", "Merde, j'ai raté mon train.",
    "Putain, j'ai enfin décroché ce boulot !", "Oh bordel, la vue depuis le balcon.",
    "Putain de pluie, encore un week-end gâché.", "Merde alors, quelle surprise !",
    "Cette fichue imprimante de merde refuse d'imprimer.", "Bordel, où j'ai mis mes lunettes ?",
    "Putain, ça c'est de la cuisine.", "Cette réforme est un vrai bordel administratif.",
    "Ce jeu vidéo est une tuerie, putain.", "Et merde, le gâteau a brûlé.",
    "Putain, trois heures de bouchons pour rentrer.", "Ce film est chiant à mourir.",
    "Bordel, quelle remontée en deuxième mi-temps !", "Ce quartier mérite mieux que ces trottoirs pourris.",
    "Quelle connerie cette panne de courant.", "Putain, je suis tellement fier de ma fille.",
    "Merde, il n'y a plus de places pour le spectacle.",
]
PEOPLE = ["ce ministre", "ce commentateur", "ce voisin", "cet arbitre", "ce youtubeur", "la députée",
          "ce chroniqueur", "mon ancien patron"]
PROFANITY_AT = [
    "Putain, {t} est vraiment une pauvre merde.", "{T}, c'est un connard fini, bordel.",
    "Qu'il aille se faire foutre, {t}.", "Merde à {t}, ce gros débile.",
]

EXCLUDE = [  # toxic: calls to exclude a group
    "Il faut fermer toutes les portes aux {n}, sans exception.",
    "Interdisons aux {n} d'ouvrir des commerces chez nous.",
    "Les {n} hors de nos écoles, qu'on les sorte.",
    "Aucun logement social pour les {n}, jamais.",
]
INCLUDE = [  # not toxic: same topics, inclusive
    "Il faut ouvrir les portes de nos entreprises aux {n} aussi.",
    "Les {n} ouvrent des commerces chez nous et c'est très bien.",
    "Les {n} ont toute leur place dans nos écoles.",
    "Les {n} peuvent obtenir un logement social comme les autres.",
]


def main(out):
    rng = random.Random(20261201)
    rows = []

    def add(text, tox, ident, template, group, pair):
        rows.append({"text": text, "toxicity": tox, "identity_attack": ident, "template": template,
                     "group": group, "pair": pair})

    for g, names in GROUPS.items():
        protected = g != "control"
        for n in names:
            for c, (p, q) in enumerate(CLAIMS):
                pair = f"claim{c}:{n}"
                for i in rng.sample(range(len(ASSERT)), 2):
                    add(ASSERT[i].format(n=n, p=p), 1, int(protected), f"assert_{i}", g, pair)
                i = rng.randrange(len(NEGATE))
                add(NEGATE[i].format(n=n, q=q), 0, 0, f"negate_{i}", g, pair)
                i = rng.randrange(len(DENOUNCE))
                add(DENOUNCE[i].format(n=n, p=p), 0, 0, f"denounce_{i}", g, pair)
                i = rng.randrange(len(REPORT))
                add(REPORT[i].format(n=n, p=p), 0, 0, f"report_{i}", g, pair)
            for i, (t, u) in enumerate(zip(EXCLUDE, INCLUDE)):
                add(t.format(n=n), 1, int(protected), f"exclude_{i}", g, f"excl{i}:{n}")
                add(u.format(n=n), 0, 0, f"include_{i}", g, f"excl{i}:{n}")
    for g, words in SLURS.items():
        for w in words:
            for i, t in enumerate(SLUR_AT):
                add(t.format(w=w), 1, 1, f"slur_at_{i}", g, f"slur:{w}")
            for i, t in enumerate(SLUR_MENTION):
                add(t.format(w=w), 0, 0, f"slur_mention_{i}", g, f"slur:{w}")
    for i, t in enumerate(PROFANITY_OK):
        add(t, 0, 0, f"profanity_ok_{i}", "none", "profanity")
    for j, who in enumerate(PEOPLE):
        for i, t in enumerate(PROFANITY_AT):
            if (i + j) % 2 == 0:
                add(t.format(t=who, T=who[0].upper() + who[1:]), 1, 0, f"profanity_at_{i}", "nonprotected",
                    "profanity")
    seen = set()
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["text", "toxicity", "identity_attack", "template", "group", "pair"])
        w.writeheader()
        for r in rows:
            if r["text"] not in seen:
                seen.add(r["text"])
                w.writerow(r)
    print(len(seen), "rows")


if __name__ == "__main__":
    main(sys.argv[1])
