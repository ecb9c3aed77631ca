from __future__ import annotations

from pathlib import Path

from bench.quality_metrics import (
    copy_rate,
    echoed_instruction,
    facts,
    grounded_share,
    instruction_ngrams,
    is_french,
    lead_n,
    opening,
    rouge_l,
    rouge_n,
    score_digest,
    shared_opening,
    stray_foreign,
    structure_ok,
    truncated_words,
    unknown_words,
    unsupported_facts,
)
from bench.results import replace_section
from bot.core.types import Digest, Length, Part
from bot.pipeline.render import to_markdown
from bot.pipeline.textmetrics import rouge_l_with_precision


def test_rouge_keeps_accents_and_matches_hand_values() -> None:
    assert rouge_n("le chat dort", "le chat dort", 1) == 1.0
    assert rouge_n("modèle", "modele", 1) == 0.0  # accents kept
    assert abs(rouge_n("a b c d", "a b x y", 1) - 0.5) < 1e-9
    assert abs(rouge_n("a b c d", "a b x y", 2) - 1 / 3) < 1e-9
    assert abs(rouge_l("a x b y c", "a b c") - 2 * 0.6 * 1.0 / 1.6) < 1e-9
    # Precision alone: all of the short sentence is in the long one, a third of the long one in it.
    assert rouge_l_with_precision("a b c", "a x b y c z")[1] == 1.0
    assert rouge_l_with_precision("a x b y c z", "a b c")[1] == 0.5
    assert rouge_l_with_precision("", "a b c")[1] == 0.0
    assert rouge_l_with_precision("a x b y c", "a b c")[0] == rouge_l("a x b y c", "a b c")


def test_copy_rate_counts_eight_grams() -> None:
    source = "un deux trois quatre cinq six sept huit neuf dix"
    assert copy_rate("un deux trois quatre cinq six sept huit", source) == 1.0
    assert copy_rate("un deux trois quatre cinq six sept zéro", source) == 0.0
    assert copy_rate("trop court", source) == 0.0


def test_language_and_stray_words() -> None:
    assert is_french("Le gouvernement a présenté la réforme des retraites dans un texte très attendu.")
    assert not is_french("The government presented the pension reform in a much awaited text and this is it.")
    assert stray_foreign("La réforme, however, est contestée.") == ["however"]
    assert not is_french("Die Regierung hat die Rentenreform vorgestellt und sie ist nicht beliebt, sagt er.")


def test_stray_foreign_words_include_content_words_and_german() -> None:
    # tricky03's recap, written from a German page: the German adjective gives it away; "Orte",
    # capitalised as German nouns are, passes for a name.
    recap = "3 Orte verrückte en Berlin. In Berlin, il y a déjà beaucoup de choses verrücktes."
    assert stray_foreign(recap) == ["verrückte", "verrücktes"]
    assert stray_foreign("Les juges (judges) ont statué und la loi passe.") == ["judges", "und"]
    assert stray_foreign("The project was approved.") == ["the", "project", "was", "approved"]
    # Another script than the Latin one: orangesum-20's recap (2026-12-07); French letters are Latin.
    assert stray_foreign("Le grand oral est prévu pour durer 20分钟.") == ["20分钟"]
    assert stray_foreign("Une œuvre déjà reçue à l'Élysée, ça ŒUVRE.") == []


def test_french_prose_names_quotes_and_loanwords_are_not_stray() -> None:
    french = (
        "Les uns dorment, il dort, il nie tout, in extremis. Ursula von der Leyen cite The Guardian et "
        "« The Art of the Deal », mange un fast-food pendant le week-end, lance une start-up de "
        "fact-checking et vise un best-seller. Le glyphosate et les trottinettes font débat."
    )
    assert stray_foreign(french) == []


def test_unsupported_facts() -> None:
    source = "Emmanuel Macron a rencontré 653 maires à Grand-Bourgtheroulde."
    missing, total = unsupported_facts("Le président Emmanuel Macron a vu 700 maires à Rouen.", source)
    assert total >= 3 and missing == 2  # 700 and Rouen
    assert "653" in facts("Il y avait 653 maires.")


def test_a_sentence_opening_on_a_quotation_mark_has_no_name_in_its_first_word() -> None:
    """« Ces sites sont … » or « Nous sommes prêts », a déclaré … : its first word is capitalised as
    any sentence's is (it was counted as a name the article lacks, and the sentence dropped)."""
    source = "Le ministre a répondu aux maires, qui demandaient des moyens pour leurs sites."
    for opened in ("« Nous sommes prêts », a déclaré le ministre.", '"Ces sites sont protégés", dit-il.'):
        assert unsupported_facts(opened, source) == (0, 0), opened
        assert unsupported_facts("Les maires écoutent. " + opened, source) == (0, 0), opened
    # A name later in the quotation is still one, as is a name after a colon, and the last word of a
    # name opening the quotation (as of one opening a sentence: « Macron » of « Emmanuel Macron »).
    assert unsupported_facts("« Nous avons vu Dupont », a-t-il dit.", source) == (1, 1)
    assert unsupported_facts("Deux candidats : Dupont et Durand.", source) == (2, 2)
    assert unsupported_facts("« Emmanuel Macron a menti », dit-il.", source) == (1, 1)


def test_numbers_written_in_words_are_facts_too() -> None:
    """fr05's recap: the glyphosate used "depuis quatre ans"; the article says forty years, since 1974."""
    source = "Le glyphosate est utilisé depuis quarante ans, depuis 1974 exactement, par 12 pays."
    assert unsupported_facts("Il est utilisé depuis quatre ans.", source) == (1, 1)
    # The same word, or the same value in figures either way, is supported; "4" is not found in "1974".
    assert unsupported_facts("Il est utilisé depuis quarante ans, dans douze pays.", source) == (0, 2)
    assert unsupported_facts("Il est utilisé depuis 40 ans.", source) == (0, 1)
    assert unsupported_facts("Il est utilisé depuis 4 ans.", source) == (1, 1)
    # Words that are not figures as often as they are: "les deux camps", "un outil neuf", "dix-huit".
    assert facts("Les deux camps ont un outil neuf depuis dix-huit mois.") == set()


def test_structure_and_score_on_a_rendered_digest(tmp_path: Path) -> None:
    parts = {p: f"Texte en français pour la partie {p.name.lower()} avec des mots." for p in Part}
    digest = Digest("https://ex.fr", "https://ex.fr", "T", Length.COURT, parts)
    md = to_markdown(digest)
    assert structure_ok(md)
    assert not structure_ok(md.replace("**Exemple**", ""))
    assert not structure_ok(md + "\n**Exemple**\nencore")
    s = score_digest(digest, md, "source sans rapport")
    assert s.structure and s.french_parts == 6 and s.copy_overall == 0.0 and s.bullets == 0
    assert not s.question_end  # the analogy ends on a full stop
    assert len(s.pair_rouge_l) == 10 and s.max_pair_rouge_l == max(s.pair_rouge_l.values())
    assert (
        s.opt_vs_pess
        == s.pair_rouge_l["optimiste–pessimiste"]
        == rouge_l(parts[Part.OPTIMISTE], parts[Part.PESSIMISTE])
    )
    parts[Part.EXEMPLE] = "Imaginez que le voisin ferme. Qui paiera ? "
    asked = Digest("https://ex.fr", "https://ex.fr", "T", Length.COURT, parts)
    assert score_digest(asked, to_markdown(asked), "source sans rapport").question_end
    assert s.first_person == 0
    parts[Part.RECAP] = "J'ai visité trois sites. Un guide a dit : « je reviendrai »."
    mine = Digest("https://ex.fr", "https://ex.fr", "T", Length.COURT, parts)
    assert score_digest(mine, to_markdown(mine), "source sans rapport").first_person == 1
    assert lead_n("Un. Deux. Trois. Quatre.", 3) == "Un. Deux. Trois."
    results = tmp_path / "R.md"
    replace_section(results, "Quality", "v1")
    replace_section(results, "Speed", "s")
    replace_section(results, "Quality", "v2")
    text = results.read_text(encoding="utf-8")
    assert "v2" in text and "v1" not in text and text.index("## Quality") < text.index("## Speed")


def test_shared_opening_finds_a_stock_phrase() -> None:
    texts = [
        "La tension entre les camps est palpable. Les syndicats refusent.",
        "La  tension entre les camps monte.",
        "Chaque côté défend sa vision.",
        "",
    ]
    assert shared_opening(texts) == ("la tension entre les", 2)
    assert shared_opening(["Imaginez que vous êtes dans un quartier", "Imaginez que vous allez"]) == (
        "vous êtes dans un",
        1,
    )
    assert shared_opening(["", ""]) == ("", 0)
    # The format's "Imaginez" is skipped with or without "que"; a word starting with "que" is kept.
    assert opening("Imaginez une boulangère qui ferme le mercredi") == "une boulangère qui ferme"
    assert opening("Imaginez quelqu'un qui attend") == "quelqu'un qui attend"
    # The neutral view's forced words too: what is compared is what the model chose.
    assert opening("D'un côté, les maires hésitent encore.") == "les maires hésitent encore."


def test_echoed_instruction_counts_a_prompts_phrases_restated_in_a_part() -> None:
    template = (
        "Écris le point de vue neutre en {paragraphs}, environ {words} mots : présente calmement la tension "
        "entre les positions en présence, ce que l'on sait et ce que l'on ignore encore."
    )
    grams = instruction_ngrams([template])
    echo = "La tension entre les positions en présence est palpable : les maires hésitent."
    assert echoed_instruction(echo, grams) == 2  # « la tension … positions en », « tension … présence »
    # Case and punctuation aside, the same run of words; a shorter shared run is ordinary French.
    assert echoed_instruction("Ce que l'on sait, et ce que L'ON IGNORE encore.", grams) == 7
    assert echoed_instruction("Ce que l'on voit, et ce que l'on craint.", grams) == 0
    assert echoed_instruction("La tension monte entre les maires et l'État.", grams) == 0
    # A run does not span a placeholder: the prompt's own words around {paragraphs} never follow each other.
    assert echoed_instruction("point de vue neutre en environ", grams) == 0
    assert echoed_instruction("le point de vue neutre en", grams) == 1


def test_score_digest_counts_echoes_per_part_when_given_the_prompts() -> None:
    parts = {p: f"Texte en français pour la partie {p.name.lower()} avec des mots." for p in Part}
    parts[Part.NEUTRE] = "La tension entre les positions en présence est palpable."
    digest = Digest("https://ex.fr", "https://ex.fr", "T", Length.COURT, parts)
    md = to_markdown(digest)
    grams = instruction_ngrams(["présente la tension entre les positions en présence."])
    echoed = score_digest(digest, md, "source", grams).echoed
    assert echoed["neutre"] == 2 and sum(echoed.values()) == 2
    assert not any(score_digest(digest, md, "source").echoed.values())


def test_grounded_share_compares_word_beginnings_and_ignores_hashtags() -> None:
    article = "Trois lieux insolites de Berlin : la Biosphère de Potsdam, la Crash Room, le Base Flying."
    recap = "Le blog présente trois attractions berlinoises desservies par le train de banlieue."
    # tricky03's hook (its example hashtags had seeded it): nothing on the subject.
    off = "Une nouvelle sur les retraites en France, qui peut changer la vie des personnes. #Retraites #Berlin"
    assert grounded_share(off, article, recap) == 0.0
    on = "Trois attractions insolites de Berlin, du Crash Room à Potsdam, à découvrir en train. #Berlin"
    # content words: trois attractions insolites berlin crash potsdam découvrir train -> 7 of 8 found
    assert grounded_share(on, article, recap) == 7 / 8
    assert grounded_share("Oui !", article) == 1.0  # no content word: nothing off the subject


def test_unknown_words_are_misspellings_not_names_nor_the_articles_rare_words() -> None:
    text = "Elle a perduses ses parents, dit Nordahl Lelandais, à cause du résorcinol tranquillément."
    assert unknown_words(text, "Le résorcinol est un produit.") == ["perduses", "tranquillément"]
    assert unknown_words("Une phrase française correcte, sans faute.") == []


def test_truncated_words_are_sentence_final_starts_of_a_longer_word() -> None:
    source = "Les agriculteurs ne sont pas obligés de l'acheter, dit la vendeuse."
    assert truncated_words("Ils ne sont pas oblig. Le reste suit.", source) == ["oblig"]
    assert truncated_words("Ils ne sont pas oblig, dit-il.", source) == []  # mid-sentence: not a cut end
    # A whole word, though the start of a longer one ("vend" / "vendeuse"), a word used twice
    # or one the sources use: none is a cut.
    assert truncated_words("Elle vend.", source) == []
    assert truncated_words("Il parle à Paris.", source + " Les Parisiens votent.") == []  # a common name
    # A name cut short is caught too (orangesum-39: « … a également interloqué Sher. »).
    assert truncated_words("Il a interloqué Sher.", "Sherbatov a été interloqué.") == ["sher"]
    assert truncated_words("Le mot oblig revient: oblig.", source) == []
    assert truncated_words("Ils sont oblig.", source + " Voir oblig.") == []
