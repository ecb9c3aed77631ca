from __future__ import annotations

import pytest

from bot.core.types import Part
from bot.pipeline.checks import Verdict, check_part

ARTICLE = (
    "Le gouvernement a présenté mardi un projet de loi sur la réforme des retraites qui repousse l'âge légal "
    "de départ à soixante-quatre ans, une mesure que les syndicats jugent injuste et que l'opposition promet "
    "de combattre au Parlement dans les semaines qui viennent."
)
#: A sentence of hope, for an optimistic view (checks.SIDE_WORDS).
HOPE = " Ce calendrier laisse une chance au dialogue."
OWN = (
    "Le texte présenté cette semaine modifie l'âge auquel les salariés pourront cesser de travailler. "
    "Les organisations de salariés contestent cette décision, et plusieurs groupes parlementaires annoncent "
    "une bataille d'amendements. Le calendrier prévoit un vote avant l'été, selon l'exécutif."
)


def test_a_reformulated_french_part_passes() -> None:
    verdict = check_part(Part.RECAP, OWN, target_words=40, article=ARTICLE, earlier={})
    assert verdict.ok and verdict.badness == 0


def test_copying_the_article_fails_and_names_the_problem() -> None:
    verdict = check_part(Part.NEUTRE, ARTICLE, target_words=40, article=ARTICLE, earlier={})
    assert "copie" in verdict.problems
    assert "ne recopie aucune phrase" in verdict.advice(40)


def test_english_short_and_empty_parts_fail() -> None:
    english = "The government presented a bill and the unions say that it is unfair to the workers of the country."
    assert "langue" in check_part(Part.NEUTRE, english, target_words=20, article=ARTICLE, earlier={}).problems
    stray = OWN + " It is a debate."
    assert "etranger" in check_part(Part.NEUTRE, stray, target_words=40, article=ARTICLE, earlier={}).problems
    short = "Le texte change l'âge de départ."
    verdict = check_part(Part.NEUTRE, short, target_words=20, article=ARTICLE, earlier={})
    assert verdict.problems == ("court",) and "environ 20 mots" in verdict.advice(20)
    assert not verdict.retry(Part.NEUTRE)  # short alone: a second attempt comes out as short (NOT_RETRIED)
    assert verdict.retry(Part.RECAP)  # ...but the recap, the factual core, gets its second chance
    stray_too = check_part(Part.NEUTRE, short + " It is a debate.", target_words=20, article=ARTICLE, earlier={})
    assert stray_too.retry(Part.NEUTRE)
    assert check_part(Part.NEUTRE, "", target_words=60, article=ARTICLE, earlier={}).problems == ("vide",)


def test_foreign_words_a_french_article_uses_are_allowed_a_foreign_articles_are_not() -> None:
    quoting = ARTICLE + " Le ministre parle de « fact checking » et de policy making."
    part = OWN + " Le ministre invoque le policy making."
    assert check_part(Part.NEUTRE, part, target_words=40, article=quoting, earlier={}).ok
    german = (
        "Drei verrückte Orte in Berlin: die S-Bahn ist nicht nur ein Verkehrsmittel, sondern auch "
        "eine Reise durch die Stadt, und ich bin jetzt seit neun Jahren dabei."
    )
    recap = OWN + " Ce sont trois lieux verrückte de la capitale allemande."
    verdict = check_part(Part.RECAP, recap, target_words=40, article=german, earlier={})
    assert verdict.problems == ("etranger",) and "aucun mot anglais ou allemand" in verdict.advice(40)


def test_repeating_an_earlier_part_fails_and_opposite_views_are_held_stricter() -> None:
    optimistic = OWN + " C'est une chance pour l'équilibre des comptes."
    pessimistic = OWN + " C'est une menace pour les métiers pénibles."
    verdict = check_part(
        Part.PESSIMISTE, pessimistic, target_words=40, article=ARTICLE, earlier={Part.OPTIMISTE: optimistic}
    )
    assert "redite" in verdict.problems
    different = (
        "Les métiers pénibles paieront le prix fort : maçons, aides-soignantes et caissières devront tenir "
        "deux années de plus, souvent usés, parfois au chômage avant l'heure."
    )
    assert check_part(
        Part.PESSIMISTE, different, target_words=30, article=ARTICLE, earlier={Part.OPTIMISTE: optimistic}
    ).ok


def test_badness_orders_attempts() -> None:
    copied = check_part(Part.NEUTRE, ARTICLE, target_words=40, article=ARTICLE, earlier={})
    slightly_short = check_part(Part.NEUTRE, OWN, target_words=120, article=ARTICLE, earlier={})
    assert 0 < slightly_short.badness < copied.badness


def test_a_factual_part_naming_what_the_article_does_not_fails() -> None:
    invented = OWN + " La réforme coûtera 12 milliards selon Bruno Le Maire."
    verdict = check_part(Part.RECAP, invented, target_words=40, article=ARTICLE, earlier={})
    assert verdict.problems == ("invente",)
    assert "aucun chiffre" in verdict.advice(40)
    # Numbers and names the article gives are fine; an opinion may imagine figures.
    supported = OWN + " Le Parlement en débattra."
    assert check_part(Part.RECAP, supported, target_words=40, article=ARTICLE, earlier={}).ok
    assert "invente" not in check_part(Part.OPTIMISTE, invented, target_words=40, article=ARTICLE, earlier={}).problems


def test_a_neutral_view_judging_a_side_is_sent_back_and_a_view_may_take_one() -> None:
    judged = (
        "D'un côté, ceux qui contestent cette décision ont raison : le texte modifie l'âge auquel les salariés "
        "pourront cesser de travailler. De l'autre côté, l'exécutif prévoit un vote avant l'été."
    )
    verdict = check_part(Part.NEUTRE, judged, target_words=40, article=ARTICLE, earlier={})
    assert verdict.problems == ("parti",) and verdict.retry(Part.NEUTRE)
    assert "ni raison ni tort" in verdict.advice(40)
    # « raison » elsewhere is no verdict, nor « avoir raison de » + a noun (to overcome: orangesum-21);
    # « avoir raison de » + a verb is one. The views are there to take a side.
    for verdict_free in ("avancent une raison", "ont eu raison de l'enthousiasme des services", "a raison du texte"):
        reasoned = judged.replace("ont raison", verdict_free)
        assert check_part(Part.NEUTRE, reasoned, target_words=40, article=ARTICLE, earlier={}).ok, verdict_free
    for verdict in ("ont raison de s'inquiéter", "a eu tort", "auraient raison"):
        judging = judged.replace("ont raison", verdict)
        assert check_part(Part.NEUTRE, judging, target_words=40, article=ARTICLE, earlier={}).problems == ("parti",)
    assert check_part(Part.PESSIMISTE, judged, target_words=40, article=ARTICLE, earlier={}).ok


@pytest.mark.parametrize(
    ("part", "told"),
    [
        # orangesum-38 and orangesum-25 (2026-12-07): the article re-told, the other side's words.
        (Part.PESSIMISTE, "Il a expliqué que l'organisation de cette foire au jambon se faisait sous un chapiteau."),
        (Part.OPTIMISTE, "Cette intrusion grave et inadmissible a représenté une atteinte au réseau culturel."),
    ],
)
def test_an_opinion_view_arguing_nothing_is_sent_back(part: Part, told: str) -> None:
    verdict = check_part(part, told, target_words=15, article=ARTICLE, earlier={})
    assert verdict.problems == ("recit",) and verdict.retry(part) and verdict.usable
    assert "défends ce point de vue" in verdict.advice(15)
    # One word of its side is enough; the parts that take no side are not asked for one.
    sided = {Part.PESSIMISTE: " Le risque est réel.", Part.OPTIMISTE: " Le dialogue peut en sortir renforcé."}
    assert check_part(part, told + sided[part], target_words=15, article=ARTICLE, earlier={}).ok
    for neutral in (Part.NEUTRE, Part.EXEMPLE):
        assert "recit" not in check_part(neutral, told, target_words=15, article=ARTICLE, earlier={}).problems


@pytest.mark.parametrize(
    "back",
    [
        # The recaps of orangesum-19, -43 and -6 and tricky03 (the same in eleven runs, 2026-12-05 to 12-07).
        "Ces zones sont surtout situées dans l'est du pays.",
        "Elle a été réalisée par une association de consommateurs.",
        "Ce fait a été condamné lundi matin par la justice.",
        "« Ces sites sont des monuments historiques », dit la ville.",
        "Il a annoncé sa candidature mardi.",
        "Il n'a jamais caché sa candidature.",
        "Cela fait suite à une plainte.",
    ],
)
def test_a_recap_or_hook_opening_on_a_word_pointing_back_is_sent_back(back: str) -> None:
    recap = back + " " + OWN
    verdict = check_part(Part.RECAP, recap, target_words=40, article=ARTICLE, earlier={})
    assert verdict.problems == ("anaphore",) and verdict.retry(Part.RECAP) and verdict.usable
    assert "nommer le sujet" in verdict.advice(40)
    assert "anaphore" in check_part(Part.ACCROCHE, back, target_words=20, article=ARTICLE, earlier={}).problems
    counted = check_part(
        Part.ACCROCHE, "Ces 300 manifestants ont défilé.", target_words=20, article=ARTICLE, earlier={}
    )
    assert "anaphore" in counted.problems
    # Later parts follow the recap: « Cette décision pourrait … » points at the news the reader just read.
    view = check_part(Part.OPTIMISTE, recap + HOPE, target_words=40, article=ARTICLE, earlier={})
    assert "anaphore" not in view.problems


@pytest.mark.parametrize(
    "opening",
    [
        "Ce lundi, le gouvernement",
        "Cette année, le gouvernement",
        "Ces dernières années, le gouvernement",
        "Ce 14 juillet, le gouvernement",
        "Il y a peu, le gouvernement",
        "Ce que",
        "Ce sont les syndicats qui disent que le gouvernement",
        "Cela fait un an que le gouvernement",
        "Il n'y a pas un mois que le gouvernement",
        "Ce 1er mai, le gouvernement",
    ],
)
def test_a_time_an_impersonal_il_or_ce_que_points_back_to_nothing(opening: str) -> None:
    recap = opening + " a présenté un texte sur la retraite. " + OWN
    assert "anaphore" not in check_part(Part.RECAP, recap, target_words=40, article=ARTICLE, earlier={}).problems


def test_a_part_speaking_as_je_is_sent_back_unless_a_witness_is_quoted() -> None:
    """tricky03's optimistic view (2026-12-07): the model wrote as the article's author."""
    own = OWN.replace("Le calendrier prévoit", "Je peux vous dire que le calendrier prévoit") + HOPE
    verdict = check_part(Part.OPTIMISTE, own, target_words=40, article=ARTICLE, earlier={})
    assert verdict.problems == ("je",) and verdict.retry(Part.OPTIMISTE)
    assert "troisième personne" in verdict.advice(40)
    quoted = OWN + HOPE + " Un syndicaliste résume : « je ne lâcherai rien »."
    assert check_part(Part.OPTIMISTE, quoted, target_words=40, article=ARTICLE, earlier={}).ok
    for mine in ("Mon avis est que le calendrier prévoit", "Il m'a dit que le calendrier prévoit"):
        text = OWN.replace("Le calendrier prévoit", mine)
        assert check_part(Part.RECAP, text, target_words=40, article=ARTICLE, earlier={}).problems == ("je",), mine


def test_a_part_restating_an_instruction_fails() -> None:
    """fr05's hook (embedded model, 2026-12-02) was the neutral view's instruction in other clothes."""
    instruction = (
        "Écris maintenant le point de vue neutre en un ou deux paragraphes, environ 85 mots : présente calmement "
        "la tension entre les positions en présence, ce que l'on sait et ce que l'on ignore encore, sans désigner "
        "de gagnant. N'ajoute aucun fait absent de l'article. Réponds seulement par ce texte, en prose."
    )
    echo = (
        "La nouvelle est une analyse de la tension entre les positions en présence, ce que l'on sait et ce que "
        "l'on ignore encore, sans désigner de gagnant."
    )
    verdict = check_part(Part.ACCROCHE, echo, target_words=35, article=ARTICLE, earlier={}, instructions=[instruction])
    assert "consigne" in verdict.problems and "consignes" in verdict.advice(35)
    # A part on the article's subject passes, even one that uses a few of the instruction's words.
    own = "On sait que la réforme repousse l'âge de départ, on ignore encore si le Parlement la votera."
    assert check_part(Part.NEUTRE, own, target_words=20, article=ARTICLE, earlier={}, instructions=[instruction]).ok


def test_a_part_ending_on_a_word_cut_short_is_sent_back() -> None:
    """fr05's optimistic view: "Ce produit est vendu à des agriculteurs qui sont pas oblig." (here with a
    word of its side: checks.SIDE_WORDS)"""
    neutral = "Selon le texte, les exploitants resteront obligés de respecter les nouvelles règles nationales."
    cut = "Ce produit utile est vendu à des agriculteurs qui sont pas oblig."
    verdict = check_part(Part.OPTIMISTE, cut, target_words=10, article=ARTICLE, earlier={Part.NEUTRE: neutral})
    assert verdict.problems == ("tronque",) and verdict.retry(Part.OPTIMISTE)
    # Unusable: orangesum-44's neutral view « Après trois divor. » was kept over a retry that repeated
    # an earlier part, whose badness was higher.
    assert not verdict.usable
    repeating = check_part(
        Part.OPTIMISTE, neutral + HOPE, target_words=10, article=ARTICLE, earlier={Part.NEUTRE: neutral}
    )
    assert repeating.problems == ("redite",) and repeating.badness < verdict.badness
    assert "aucun mot coupé" in verdict.advice(10)
    whole = "Ce produit utile est vendu à des agriculteurs qui restent libres de leur choix."
    assert check_part(Part.OPTIMISTE, whole, target_words=10, article=ARTICLE, earlier={Part.NEUTRE: neutral}).ok


def test_a_fragment_is_retried_where_a_short_part_is_not() -> None:
    """orangesum-13's optimistic view: « Cela est un progrès significatif pour le mouvement. »."""
    text = "Cela est un progrès significatif pour tout le mouvement."
    fragment = check_part(Part.NEUTRE, text, target_words=60, article=ARTICLE, earlier={})
    assert fragment.problems == ("fragment",) and fragment.retry(Part.NEUTRE) and fragment.usable
    assert "en entier" in fragment.advice(60)
    short = check_part(Part.NEUTRE, OWN[:120], target_words=60, article=ARTICLE, earlier={})
    assert short.problems == ("court",) and not short.retry(Part.NEUTRE)
    assert fragment.badness > short.badness  # of two attempts, the fragment loses


@pytest.mark.parametrize(
    "scrap", ["S'opposer au glyphosate.", "La Pologne, qui a inter.", "Le texte change tout pour eux ici."]
)
def test_a_scrap_of_a_few_words_is_retried_and_unusable(scrap: str) -> None:
    """fr05's neutral view « S'opposer au glyphosate. » and orangesum-39's pessimistic « La Pologne, qui
    a inter. » each survived their retry: four words standing for a side."""
    verdict = check_part(Part.PESSIMISTE, scrap, target_words=70, article=ARTICLE, earlier={})
    # (and none of them says a word of its side)
    assert verdict.problems == ("bribe", "recit") and verdict.retry(Part.PESSIMISTE) and not verdict.usable
    assert "en entier" in verdict.advice(70)
    # A usable attempt wins over it, even one repeating an earlier part word for word.
    repeated = check_part(Part.PESSIMISTE, OWN, target_words=70, article=ARTICLE, earlier={Part.NEUTRE: OWN})
    assert repeated.problems == ("redite",) and repeated.badness < verdict.badness
    # Eight words are a (short) sentence, not a scrap; and a court digest's parts are judged alike.
    whole = "Le risque est de priver les paysans demain."
    assert check_part(Part.PESSIMISTE, whole, target_words=70, article=ARTICLE, earlier={}).problems == ("fragment",)
    assert "bribe" in check_part(Part.PESSIMISTE, scrap, target_words=40, article=ARTICLE, earlier={}).problems


def test_forced_opening_words_do_not_make_a_scrap_a_part() -> None:
    """The neutral view's last attempt opens « Reste à savoir si »: behind it, « s'opposer au
    glyphosate. » is the same four-word scrap, though the whole counts eight words."""
    opening = "Reste à savoir si"
    scrap = f"{opening} s'opposer au glyphosate."
    assert check_part(Part.NEUTRE, scrap, target_words=70, article=ARTICLE, earlier={}).problems == ("fragment",)
    opened = check_part(Part.NEUTRE, scrap, target_words=70, article=ARTICLE, earlier={}, opening=opening)
    assert opened.problems == ("bribe",) and not opened.usable
    # Seven words of the model's own behind the opening are a scrap, eight a (short) part; the
    # opening's « si » elided before « il » (summarize.join_prefix) is still the opening.
    seven = f"{opening} la loi sera appliquée dans les délais."
    eight = f"{opening} la loi sera appliquée dans les délais prévus."
    elided = "Reste à savoir s'il sera appliqué dans tous les délais prévus."
    for text, usable in ((seven, False), (eight, True), (elided, True)):
        judged = check_part(Part.NEUTRE, text, target_words=70, article=ARTICLE, earlier={}, opening=opening)
        assert judged.usable is usable, text
    elided_scrap = "Reste à savoir s'il sera appliqué demain."
    judged = check_part(Part.NEUTRE, elided_scrap, target_words=70, article=ARTICLE, earlier={}, opening=opening)
    assert "bribe" in judged.problems and not judged.usable


def test_a_usable_attempt_is_kept_over_an_unusable_one_however_badly_it_checked() -> None:
    """A view pasted from the article that also repeats the recap checks worse (copie and redite,
    badness 161) than a four-word scrap (138); the scrap is unusable, so the paste is kept."""
    pasted = Verdict(("copie", "redite"), 161.0)
    scrap = Verdict(("bribe",), 138.0)
    assert pasted.beats(scrap) and not scrap.beats(pasted)
    assert Verdict(("redite",), 10.0).beats(pasted)  # among usable ones, the lesser badness
    assert Verdict(("bribe",), 120.0).beats(scrap) and not scrap.beats(scrap)
