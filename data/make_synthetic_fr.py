"""Synthetic French TRAINING rows for the default model (counterfactual identity templates).

Written for training only, separately from the functional test suite (data/functional_fr.csv, evaluation
only): different templates and sentences, written independently. Every generated row is listed in
data/synthetic_fr.csv with the template it came from, and the model card describes them.

    python data/make_synthetic_fr.py data/synthetic_fr.csv

Each identity template is filled with every group (counterfactual: the same sentence with a different
group keeps its label), so that naming a group is not a toxicity cue on its own; a fraction of rows gets a
spelling variant (dropped accents, leet, spaced letters) with the same label.
"""
import csv
import random
import sys
import unicodedata

# (plural noun without article, singular "je suis ..." form)
GROUPS = {
    "women": [("femmes", "une femme")],
    "muslims": [("musulmans", "musulman"), ("musulmanes", "musulmane")],
    "jews": [("juifs", "juif"), ("Israélites", "juive")],
    "black": [("Noirs", "noir"), ("Africains", "africaine")],
    "arabs": [("Arabes", "arabe"), ("Maghrébins", "maghrébin")],
    "roma": [("Roms", "rom"), ("Gitans", "gitane")],
    "lgbt": [("homosexuels", "homosexuel"), ("lesbiennes", "lesbienne"), ("personnes trans", "trans")],
    "immigrants": [("immigrés", "immigré"), ("réfugiés", "réfugiée")],
    "disabled": [("handicapés", "handicapé"), ("autistes", "autiste")],
    "other": [("chrétiens", "chrétien"), ("Bretons", "breton"), ("Asiatiques", "asiatique"),
              ("Portugais", "portugais"), ("hommes", "un homme"), ("Blancs", "blanc")],
}

NON_TOXIC = [
    "Beaucoup de {n} vivent dans mon quartier et tout se passe bien.",
    "Le documentaire raconte la vie quotidienne des {n} à Marseille.",
    "Une association d'aide aux {n} cherche des bénévoles pour l'hiver.",
    "Il y a des {n} dans toutes les professions, comme partout.",
    "Le sondage interroge aussi les {n} sur leur pouvoir d'achat.",
    "J'ai grandi avec des {n} et j'en garde d'excellents souvenirs.",
    "Les {n} ont exactement les mêmes droits que tout le monde.",
    "Respect aux {n} qui se lèvent tôt pour faire tourner ce pays.",
    "Quelle est la part des {n} parmi les élus municipaux ?",
    "Les {n} aussi aiment le foot, le cinéma et les barbecues.",
    "Je n'ai aucun problème avec les {n}, bien au contraire.",
    "Personne ici ne dit du mal des {n}, on se respecte.",
    "Insulter les {n} sur internet, c'est minable et lâche.",
    "Les messages de haine contre les {n} doivent être signalés.",
    "Stop au harcèlement des {n} sur les réseaux sociaux.",
    "Un rapport recense les actes hostiles envers les {n} l'an dernier.",
    "Le maire a condamné les insultes visant les {n} de la commune.",
    "Ce n'est pas aux {n} de payer pour les erreurs de quelques-uns.",
    "Mon meilleur ami fait partie des {n} et c'est quelqu'un de génial.",
    "Merci aux {n} du club de foot pour leur accueil chaleureux.",
    "On entend trop de clichés sur les {n}, et ils sont faux.",
    "La mairie organise une rencontre avec les {n} du quartier jeudi.",
]
SELF = [
    "Je suis {s} et je suis fier de mes origines.",
    "Moi qui suis {s}, je trouve ce débat important.",
    "Je suis {s}, j'ai trois enfants et je travaille à l'hôpital.",
    "Étant {s}, je peux témoigner que tout n'est pas rose.",
]
TOXIC = [
    "Les {n} sont une plaie pour ce pays.",
    "Qu'on nous débarrasse des {n} une bonne fois pour toutes.",
    "J'ai la nausée dès que je croise des {n}.",
    "Les {n}, c'est une sous-race.",
    "Dehors les {n}, on ne veut pas de vous ici.",
    "Ces {n} ne méritent même pas de vivre.",
    "Tous les {n} devraient finir dans des camps.",
    "Il faudrait tabasser les {n} jusqu'à ce qu'ils se cassent.",
    "Les {n} puent et salissent tout ce qu'ils touchent.",
    "Bande de {n} dégénérés, vous êtes la honte de l'humanité.",
    "On devrait stériliser les {n}.",
    "Les {n} sont des bêtes, pas des humains.",
]
PROFANITY_NO_TARGET = [
    "Putain, ce coucher de soleil est dingue.", "Merde alors, je n'y croyais plus !",
    "Bordel, j'ai enfin fini ce dossier.", "Putain que c'est bon, ce plat.", "Et merde, la batterie est morte.",
    "Putain, quelle équipe, quel jeu, bravo !", "Oh putain, j'ai eu mon bac !", "Bordel, il est déjà minuit.",
    "Merde, j'ai laissé mes clés dans la voiture.", "Putain, ça fait du bien les vacances.",
    "Fait chier, ce bouchon sur l'autoroute.", "C'est vachement bien foutu, putain.",
    "Putain, cette chanson me file des frissons à chaque fois.", "Bordel de merde, quel orage !",
    "Purée, quelle vue depuis le sommet.", "Merde, merde, merde, j'ai oublié le pain.",
]
OBJECTS = [
    "Ce grille-pain de merde a encore cramé mes tartines.", "Cette série est une daube monumentale.",
    "Mon ordi est une vraie merde, il rame tout le temps.", "Ce parapluie pourri s'est retourné au premier coup de vent.",
    "Le site de la banque est complètement naze.", "Cette chanson est vraiment nulle.",
    "Quel temps de chien aujourd'hui.", "Ce resto est une arnaque, la bouffe est immonde.",
    "Cette mise à jour est une catastrophe, tout bugge.", "Le nouveau logo est moche à pleurer.",
    "Ce canapé est d'un inconfort débile.", "La fin du film est complètement stupide.",
]
FIGURATIVE = [
    "Ce tiramisu est une tuerie absolue.", "On va les démolir dimanche, allez les Bleus !",
    "J'ai explosé mon record personnel ce matin.", "Ce stand-up m'a tué, j'ai pleuré de rire.",
    "La chanteuse a mis le feu au festival.", "J'ai massacré ma recette de crêpes, tout a collé.",
]
TARGETS = ["ce ministre", "ce député", "ce journaliste", "cet arbitre", "cet entraîneur", "le maire",
           "ce présentateur", "cette sénatrice", "l'éditorialiste", "le président du club"]
INSULTS = ["est un connard", "est une ordure", "est un abruti fini", "mérite des baffes", "est une merde",
           "est un gros con", "est une raclure", "devrait fermer sa gueule"]
CIVIL = ["s'est trompé sur toute la ligne", "n'a pas tenu ses promesses", "a pris une décision discutable",
         "devrait revoir sa copie", "n'a rien compris au dossier", "a fait un mauvais choix"]


def strip_accents(t):
    return "".join(c for c in unicodedata.normalize("NFD", t) if unicodedata.category(c) != "Mn")


LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "$"})


def variant(text, word, rng):
    k = rng.random()
    if k < 0.4:
        return strip_accents(text).lower()
    if k < 0.7:
        return text.replace(word, word.translate(LEET))
    return text.replace(word, " ".join(word))


def main(out):
    rng = random.Random(2026)
    rows = []

    def add(text, tox, ident, template, group):
        rows.append({"text": text, "toxicity": tox, "identity_attack": ident, "template": template,
                     "group": group})

    for g, forms in GROUPS.items():
        for n, s in forms:
            for i, t in enumerate(NON_TOXIC):
                text = t.format(n=n)
                text = text[0].upper() + text[1:]
                add(text, 0, 0, f"non_toxic_{i}", g)
                if rng.random() < 0.15:
                    add(variant(text, n, rng), 0, 0, f"non_toxic_{i}_variant", g)
            for i, t in enumerate(SELF):
                add(t.format(s=s), 0, 0, f"self_{i}", g)
            for i, t in enumerate(TOXIC):
                text = t.format(n=n)
                add(text, 1, 1, f"toxic_{i}", g)
                if rng.random() < 0.3:
                    add(variant(text, n, rng), 1, 1, f"toxic_{i}_variant", g)
    for i, t in enumerate(PROFANITY_NO_TARGET):
        add(t, 0, 0, f"profanity_{i}", "none")
    for i, t in enumerate(OBJECTS):
        add(t, 0, 0, f"object_{i}", "none")
    for i, t in enumerate(FIGURATIVE):
        add(t, 0, 0, f"figurative_{i}", "none")
    for i, tg in enumerate(TARGETS):
        for j, ins in enumerate(INSULTS):
            if (i + j) % 2 == 0:
                add(f"{tg[0].upper() + tg[1:]} {ins}.", 1, 0, f"insult_{j}", "nonprotected")
        for j, c in enumerate(CIVIL):
            if (i + j) % 2 == 0:
                add(f"{tg[0].upper() + tg[1:]} {c}.", 0, 0, f"civil_{j}", "nonprotected")
    seen = set()
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["text", "toxicity", "identity_attack", "template", "group"])
        w.writeheader()
        for r in rows:
            if r["text"] not in seen:
                seen.add(r["text"])
                w.writerow(r)
    print(len(seen), "rows")


if __name__ == "__main__":
    main(sys.argv[1])
