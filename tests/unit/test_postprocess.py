from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.types import Article
from bot.pipeline.postprocess import (
    build_hook,
    choose_emoji,
    clean_prose,
    cut_unsupported_dates,
    drop_advice_sentences,
    drop_first_person_sentences,
    drop_instruction_echoes,
    drop_one_sided_opening,
    drop_opening_link,
    drop_sentences_naming_people,
    drop_sentences_with_foreign_words,
    drop_truncated_sentences,
    drop_unsupported_sentences,
    french_date,
    hashtags_from,
    mend_accents,
    mend_elisions,
    reference_line,
    reopen_cut_number,
    trim_to_sentence,
    unglue_words,
)
from bot.pipeline.textmetrics import names_in, people, unknown_words

ARTICLE = Article(
    url="https://ex.fr/a?utm_source=x",
    final_url="https://www.ex.fr/a",
    title="La réforme des retraites divise les syndicats",
    text="La réforme des retraites est contestée. Les syndicats appellent à la grève. " * 5,
    site="Ex Quotidien",
    author="Jeanne Dupont",
    date="2019-12-01",
)


def test_headings_bold_and_intro_are_removed() -> None:
    raw = "Voici le récapitulatif :\n**Récapitulatif factuel**\nLe texte **important** est là. Fin."
    assert clean_prose(raw, max_paragraphs=3) == "Le texte important est là. Fin."


def test_model_running_into_the_next_part_is_cut() -> None:
    raw = "Premier paragraphe complet.\n\n**Point de vue optimiste**\nAutre chose."
    assert clean_prose(raw, max_paragraphs=3) == "Premier paragraphe complet."


def test_bullets_become_prose() -> None:
    raw = "- premier point\n- second point.\n* troisième"
    assert clean_prose(raw, max_paragraphs=2) == "premier point. second point. troisième."


def test_paragraph_limit_and_unfinished_sentence() -> None:
    raw = "Un. Deux trois quatre cinq six sept huit neuf dix onze douze.\n\nB.\n\nC. Et puis la phrase coupée au mil"
    out = clean_prose(raw, max_paragraphs=2)
    assert out.split("\n\n")[0].startswith("Un.")
    assert len(out.split("\n\n")) == 2
    long = "La première phrase est tout à fait complète et assez longue. Puis une phrase coupée au mil"
    assert trim_to_sentence(long) == "La première phrase est tout à fait complète et assez longue."
    # Not at a number's point (orangesum-38's pessimistic view, 2026-12-07), and after a quotation's end.
    cut = "Il a expliqué que l'organisation se faisait sous un chapiteau. La foire accueille 200.000 personnes en quat"
    assert trim_to_sentence(cut) == "Il a expliqué que l'organisation se faisait sous un chapiteau."
    cut = "Le maire a déclaré : « Nous reporterons la foire. » Puis il a ajouté que la"
    assert trim_to_sentence(cut) == "Le maire a déclaré : « Nous reporterons la foire. »"


def test_an_answer_cut_right_after_a_numbers_point_is_reopened() -> None:
    """The limit struck right after « 200. » (of « 200.000 »): the point goes, and the sentence is
    trimmed back like any unfinished one. Only a point after a digit, at the very end."""
    cut = "Il a expliqué que la foire se tenait sous un chapiteau. La foire accueille habituellement 200."
    assert reopen_cut_number(cut) == cut[:-1]
    assert trim_to_sentence(reopen_cut_number(cut)) == "Il a expliqué que la foire se tenait sous un chapiteau."
    for whole in (
        "La foire a lieu en mars.",
        "Le score : 3. Puis la suite.",
        "Elle a eu lieu en 2020 !",
        "Le COVID-19.",
    ):
        assert reopen_cut_number(whole) == whole


@pytest.mark.parametrize(
    ("cut", "closed"),
    [
        # orangesum-39 (2026-12-05): a pessimistic view of one sentence, cut by the token limit.
        (
            "Le risque, c'est que Sherbatov a rêvé de voir le hockey prendre son essor, mais il a souligné que le",
            "Le risque, c'est que Sherbatov a rêvé de voir le hockey prendre son essor, mais il a souligné.",
        ),
        (
            "Elle tient à leur capacité à influencer les publics, à",
            "Elle tient à leur capacité à influencer les publics.",
        ),
        ("Le maire a répondu aux habitants", "Le maire a répondu aux habitants."),
        ("Il a répondu « que le", "Il a répondu."),
        # Words that may end a sentence stay.
        ("Les agriculteurs devront faire avec", "Les agriculteurs devront faire avec."),
        ("Les députés ont voté pour", "Les députés ont voté pour."),
        ("Ce combat est aussi le leur", "Ce combat est aussi le leur."),
    ],
)
def test_a_sentence_cut_with_nothing_before_it_is_closed_on_a_full_word(cut: str, closed: str) -> None:
    assert trim_to_sentence(cut) == closed


def test_intro_line_ending_in_colon_is_dropped() -> None:
    assert clean_prose("Les arguments en faveur sont les suivants :", max_paragraphs=1) == ""


def test_hook_has_sentence_emoji_and_hashtags_within_280() -> None:
    raw = "Les syndicats s'opposent à la réforme des retraites. " * 8 + "#Retraites #Syndicats"
    hook = build_hook(raw, ARTICLE, "Récap.")
    assert len(hook) <= 280
    assert hook.count("#") >= 2
    assert "#Retraites" in hook
    assert any(ord(c) > 0x2000 for c in hook)  # one emoji
    body = hook.split(" #")[0]
    assert body.rstrip().endswith(("💶", "🏛️", "📰")) or True
    # Never cut mid-word: the text before the emoji ends a sentence.
    text = hook.rsplit(" ", 3)[0]
    assert text.rstrip()[-1] in ".!?…" or text.endswith(tuple("💶🏛️📰"))


def test_hook_without_model_hashtags_gets_tags_from_article() -> None:
    hook = build_hook("Une réforme contestée.", ARTICLE, "")
    tags = [w for w in hook.split() if w.startswith("#")]
    assert 2 <= len(tags) <= 4


def test_hashtags_from_the_article_are_words_not_elisions() -> None:
    """fr03 and fr04's hooks ended in "#D’une" and "#C’est": the apostrophe glued the elision to the word."""
    article = Article(
        url="https://ex.fr/e",
        final_url="https://ex.fr/e",
        title="L’État et l’architecture",
        text="C’est d’une turpitude. " * 6 + "L’État s’engage, l’architecture d’État aussi. " * 3,
        site="Ex",
    )
    tags = hashtags_from("Une réforme contestée.", article)
    assert tags == ["#État", "#Architecture", "#Turpitude"]  # a name, then nouns; the title weighs most
    assert not any("’" in t or "'" in t for t in tags)


def test_fallback_hashtags_of_a_foreign_page_come_from_the_french_digest() -> None:
    german = Article(
        url="https://ex.de/a",
        final_url="https://ex.de/a",
        title="Die Auslieferung des Verdächtigen",
        text="Die Auslieferung wurde gestern vom Gericht in Berlin genehmigt. " * 5,
        site="Ex",
    )
    recap = "La justice allemande autorise l'extradition du suspect. L'extradition vers la France aura lieu en mai."
    tags = hashtags_from("Une extradition contestée.", german, digest_text=recap)
    assert tags[0] == "#Extradition" and not any("Auslieferung" in t or "Gericht" in t for t in tags)
    # A French page keeps its own words.
    assert hashtags_from("Une réforme.", ARTICLE, digest_text=recap) == hashtags_from("Une réforme.", ARTICLE)


def test_a_hashtag_in_english_or_german_is_not_kept() -> None:
    """orangesum-10's hook (every run of the week of 2026-12-07): #Quality, from a misquoted recap."""
    visit = Article(
        url="https://ex.fr/a",
        final_url="https://ex.fr/a",
        title="Macron chez Chirac",
        text="Une visite qui fut un moment de grande qualité et de grande courtoisie chez Jacques Chirac. " * 3,
        site="Ex",
    )
    recap = "La visite fut « un moment de grande quality et de grande courtoisie » chez Jacques Chirac."
    assert hashtags_from("#Chirac #Courtoisie #Quality", visit, digest_text=recap) == ["#Chirac", "#Courtoisie"]
    # The article's own English words are its topic's.
    news = replace(visit, text=f"{visit.text} Les fake news circulent, dit-il : des fake news partout.")
    assert hashtags_from("#Chirac #FakeNews", news) == ["#Chirac", "#FakeNews"]
    # A German page's German word is not a French digest's tag, even where the page writes it.
    german = replace(visit, text="Das Verrücktes in Berlin: wir haben das Verrücktes gesehen und es war schön. " * 3)
    recap = "Les sites les plus étranges de Berlin, des lieux fous."
    assert hashtags_from("#Berlin #Verrücktes #Sites", german, digest_text=recap) == ["#Berlin", "#Sites"]


@given(st.text(max_size=1200))
def test_hook_always_fits(raw: str) -> None:
    hook = build_hook(raw, ARTICLE, "La réforme est contestée.")
    assert 0 < len(hook) <= 280
    assert "#" in hook


def test_emoji_and_hashtags_follow_topic() -> None:
    assert choose_emoji("Le glyphosate et les pesticides dans l'agriculture") == "🌱"
    assert choose_emoji("zzz qqq") == "📰"
    ai = Article(
        url="https://ex.fr/ia",
        final_url="https://ex.fr/ia",
        title="L'IA en open source",
        text="Les modèles d'IA open source se multiplient, avec des données publiques. " * 5,
    )
    assert hashtags_from("texte #IA et #OpenSource #Modèles", ai) == ["#IA", "#OpenSource", "#Modèles"]
    # A word too common to name a topic goes when two tags are left (orangesum-3's #Période,
    # 2026-12-07), and makes up two when they are not.
    assert hashtags_from("texte #IA #Données #OpenSource", ai) == ["#IA", "#OpenSource"]
    assert hashtags_from("texte #Données", ai) == ["#IA", "#Modèles"]  # the article's own, instead
    plain = Article(url="u", final_url="u", title="", text="Les données, les données publiques. " * 3)
    assert hashtags_from("texte #Données", plain) == ["#Données"]  # nothing else to say the topic
    cop = Article(url="u", final_url="u", title="La COP21 à Paris", text="La COP21 réunit le monde. " * 5)
    assert hashtags_from("#COP21 #Paris", cop) == ["#COP21", "#Paris"]
    # Tags the article does not speak of are the prompt's example, not the topic (fr21, surveillance law).
    tags = hashtags_from("texte #Retraites #Travail #IA", ai)
    assert "#Retraites" not in tags and "#Travail" not in tags and tags[0] == "#IA" and len(tags) >= 2
    # A phrase the model coined from the article's words (orangesum-44's #FilmSerie, 2026-12-07) comes
    # last, like a common word; one the article writes (« données publiques ») is a topic.
    assert hashtags_from("texte #IA #SourceModèles #OpenSource", ai) == ["#IA", "#OpenSource"]
    assert hashtags_from("texte #DonnéesPubliques #IA", ai) == ["#DonnéesPubliques", "#IA"]
    assert hashtags_from("texte #SourceModèles", ai) == ["#IA", "#Modèles"]  # the article's own, instead


def test_reference_line_names_redirect_site_author_date() -> None:
    line = reference_line(ARTICLE)
    assert line.startswith("https://ex.fr/a?utm_source=x (redirigé vers https://www.ex.fr/a)")
    assert "Ex Quotidien" in line and "Jeanne Dupont" in line and "1er décembre 2019" in line
    assert french_date("2026-03-12") == "12 mars 2026"
    assert french_date("hier") == "hier"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Le point de vue optimiste est que la réforme sauve le système.", "La réforme sauve le système."),
        ("Le point de vue pessimiste est qu'il manque des moyens pour tenir.", "Il manque des moyens pour tenir."),
        ("Du point de vue neutre, les deux camps ont des arguments.", "Les deux camps ont des arguments."),
        ("La nouvelle est que le glyphosate sera interdit en 2021.", "Le glyphosate sera interdit en 2021."),
        ("Le point de vue des syndicats est clair.", "Le point de vue des syndicats est clair."),
        (  # orangesum-17 and -49's pessimistic views, 2026-12-07
            "Le point de vue pessimiste est clair : la pandémie est un risque pour l'humanité.",
            "La pandémie est un risque pour l'humanité.",
        ),
        (
            "Le point de vue pessimiste sur ce sujet est clair : la série ne méritait pas sa nomination.",
            "La série ne méritait pas sa nomination.",
        ),
        (
            "Le point de vue pessimiste est clairement minoritaire dans le pays.",
            "Le point de vue pessimiste est clairement minoritaire dans le pays.",
        ),
        (  # orangesum-34's neutral view, 2026-12-07: the instruction restated as a sentence about the part
            "Le gouvernement encourage les départs. C'est un point de vue neutre qui met en balance les "
            "arguments des uns et des autres, sans ajouter de fait absent de l'article.",
            "Le gouvernement encourage les départs.",
        ),
        (  # orangesum-0, a neutral view (embedded model)
            "Le point de vue neutre sur cette scène est que le comportement de Matthieu Delormeau est normalisé.",
            "Le comportement de Matthieu Delormeau est normalisé.",
        ),
        (
            "Le point de vue des syndicats sur la réforme est que rien ne change.",
            "Le point de vue des syndicats sur la réforme est que rien ne change.",
        ),
        (  # "que" inside a word, or a relative "que", does not end the opening
            "Le point de vue neutre sur la politique migratoire est que l'Europe hésite encore.",
            "L'Europe hésite encore.",
        ),
        (
            "Le point de vue pessimiste sur les mesures que le gouvernement a prises est partagé par beaucoup.",
            "Le point de vue pessimiste sur les mesures que le gouvernement a prises est partagé par beaucoup.",
        ),
    ],
)
def test_openings_that_restate_the_part_name_are_dropped(raw: str, expected: str) -> None:
    assert clean_prose(raw, max_paragraphs=1) == expected


def test_a_looping_part_keeps_each_point_once() -> None:
    looped = (
        "Imaginez que vous êtes dans un quartier où les habitants se disputent. Un enfant fait une erreur dans "
        "un commerce. Un autre enfant abuse de confiance. Un autre enfant a été condamné. Un autre enfant fait une "
        "faute dans un quartier. Un enfant fait une erreur dans un commerce voisin. Qui doit juger ?"
    )
    out = clean_prose(looped, max_paragraphs=1)
    assert out == (
        "Imaginez que vous êtes dans un quartier où les habitants se disputent. Un enfant fait une erreur dans "
        "un commerce. Un autre enfant abuse de confiance. Un autre enfant a été condamné. Qui doit juger ?"
    )
    twice = "Le texte change la loi. Les syndicats protestent.\n\nLe texte change la loi. Un vote suit."
    assert clean_prose(twice, max_paragraphs=2) == "Le texte change la loi. Les syndicats protestent.\n\nUn vote suit."


def test_a_sentence_already_written_in_an_earlier_part_is_dropped() -> None:
    optimistic = "Le roman montre un progrès. Les chaebols et l'État ont commencé à débattre de la corruption."
    pessimistic = (
        "Le roman montre une corruption généralisée. Les chaebols et l'État ont commencé à débattre de la "
        "corruption. Rien ne dit que cela changera."
    )
    assert clean_prose(pessimistic, max_paragraphs=1, seen=optimistic) == (
        "Le roman montre une corruption généralisée. Rien ne dit que cela changera."
    )


def test_sentences_with_invented_figures_or_names_are_dropped_from_a_factual_part() -> None:
    source = "La grève a réuni 12 000 personnes à Lyon mardi, selon la CGT. La préfecture en compte 8 500."
    recap = (
        "La CGT annonce 12 000 grévistes à Lyon. Le ministre Gérald Darmanin a réagi.\n\n"
        "Selon la préfecture, ils étaient 8 500. Le mouvement a coûté 3 millions d'euros."
    )
    text, dropped = drop_unsupported_sentences(recap, source)
    assert text == "La CGT annonce 12 000 grévistes à Lyon.\n\nSelon la préfecture, ils étaient 8 500."
    assert dropped == 2
    # When every sentence has one, nothing is dropped: the part's check asks for another attempt.
    assert drop_unsupported_sentences("Le ministre Gérald Darmanin a réagi.", source) == (
        "Le ministre Gérald Darmanin a réagi.",
        0,
    )


def test_a_first_sentences_made_up_date_is_taken_off_when_the_next_sentence_points_back_to_it() -> None:
    """orangesum-6's recap (2026-12-07): « Le 3 janvier 2021, le général Qassem Soleimani … », the date
    made up. Dropped whole, the sentence naming the subject left the recap opening on « Ce fait … »."""
    source = "Le général Qassem Soleimani a été tué par une frappe américaine en Irak, en janvier, à l'aube."
    back = " Ce fait a été condamné."
    recap = f"Le 3 janvier 2021, le général Qassem Soleimani a été tué par une frappe américaine.{back}"
    assert cut_unsupported_dates(recap, source) == (
        f"Le général Qassem Soleimani a été tué par une frappe américaine.{back}",
        1,
    )
    # The next sentence may open the next paragraph.
    text, cut = cut_unsupported_dates(recap.replace(back, "\n\n" + back.strip()), source)
    assert cut == 1 and text.startswith("Le général Qassem Soleimani") and text.endswith("\n\nCe fait a été condamné.")
    # A closing date too (orangesum-8: Toni Morrison's Nobel prize « en 2019 »; the article gives no year),
    # Mi-, Depuis …, and a month written with a capital.
    closing = f"Le général Qassem Soleimani a été tué par une frappe américaine le 3 janvier 2021.{back}"
    assert cut_unsupported_dates(closing, source) == (
        f"Le général Qassem Soleimani a été tué par une frappe américaine.{back}",
        1,
    )
    since = f"Le général Qassem Soleimani a été tué par une frappe américaine avant le 3 mai 2021 !{back}"
    assert cut_unsupported_dates(since, source) == (
        f"Le général Qassem Soleimani a été tué par une frappe américaine !{back}",
        1,
    )
    for date in ("Mi-juin 2023", "Depuis 2019", "Le 3 Janvier 2021"):
        assert cut_unsupported_dates(f"{date}, le général Qassem Soleimani a été tué en Irak.{back}", source) == (
            f"Le général Qassem Soleimani a été tué en Irak.{back}",
            1,
        ), date
    kept = (
        # Where nothing points back to it, a sentence with a made-up date goes whole (orangesum-10's
        # confused « Le 21 juillet 2017, Jacques Chirac, son épouse Brigitte Macron … » was let through).
        "Le 3 janvier 2021, le général Qassem Soleimani a été tué par une frappe américaine. La frappe a eu lieu.",
        "Le général Qassem Soleimani a été tué. Le 3 janvier 2021, le général a été tué par une frappe." + back,
        "Le gouvernement a annoncé 3 mesures, que les syndicats rejettent." + back,  # no date: a made-up figure
        "En janvier, le général Qassem Soleimani a été tué par une frappe américaine." + back,  # the article's date
        "Le 3 janvier 2021, le général Qassem Soleimani a été tué par une frappe de 12 drones." + back,  # more
        "Le 3 janvier 2021, Dupont a été tué par une frappe américaine en Irak." + back,  # a name made up after it
        "Le général a été tué en 2021." + back,  # too short without it
        "Le général Qassem Soleimani a été tué par une frappe américaine le 3 et le 4 mai." + back,
        "Le général Qassem Soleimani a été tué par une frappe américaine en 2." + back,  # no year, month nor day
        "Le 3 janvier 2021, le général Qassem Soleimani a été tué par une frappe américaine.",  # alone
    )
    for sentence in kept:
        assert cut_unsupported_dates(sentence, source) == (sentence, 0), sentence


def test_the_analogy_loses_the_sentences_that_name_the_article_s_people() -> None:
    """orangesum-27's analogy put the accused man of the article into its made-up scene."""
    source = (
        "L'ancien militaire Nordahl Lelandais a été mis en examen mercredi, a indiqué le procureur Eric "
        "Maurel à France Bleu Isère. Selon ses avocats, Lelandais conteste. La France entière suit l'affaire."
    )
    assert people(source) >= {"Nordahl Lelandais", "Lelandais", "Eric Maurel", "Maurel"}
    # A name after "La" is one capitalised word: a place, not a person. (The last word of a longer
    # name counts even when it is a place: "France Bleu Isère" gives "Isère".)
    assert not {"France", "La France"} & people(source)
    analogy = (
        "vous êtes dans un quartier où les enfants jouent dans la rue. Vous pouvez imaginer que cet homme "
        "est Nordahl Lelandais. Un voisin appelle la police, à Paris comme en France. Comment réagir ?"
    )
    text, dropped = drop_sentences_naming_people(analogy, source)
    assert dropped == 1 and "Lelandais" not in text
    assert text.startswith("vous êtes dans un quartier") and text.endswith("en France. Comment réagir ?")
    # Whole words, case kept: "maurelle" or a lower-case common word are not the name.
    assert names_in("La maurelle et Maurels fleurissent.", people(source)) == []
    # When every sentence names one, nothing is dropped (the analogy would be empty).
    assert drop_sentences_naming_people("Lelandais attend.", source) == ("Lelandais attend.", 0)


def test_sentences_speaking_as_je_are_dropped_but_quotes_titles_and_names_stay() -> None:
    # tricky03's recap (2026-12-07), from a German travel blog written in the first person.
    recap = (
        "Dans Berlin, je suis devenu un expert en lieux étranges. J'ai eu l'occasion de visiter trois sites. "
        "Ces sites sont des monuments historiques. Ils ont servi au plaisir comme à la violence."
    )
    assert drop_first_person_sentences(recap) == (
        "Ces sites sont des monuments historiques. Ils ont servi au plaisir comme à la violence.",
        2,
    )
    kept = (
        "Le ministre a déclaré : « je ne démissionnerai pas ». Le slogan Je suis Charlie a fait le tour du monde. "
        "Ma Yun a quitté la présidence du groupe. Le mois de mai sera décisif. M'Bala M'Bala a fait appel."
    )
    assert drop_first_person_sentences(kept) == (kept, 0)
    # Every sentence speaks as « je »: kept as it is, for the part's check to send it back.
    mine = "Je pense que la loi passera. Mon avis est partagé."
    assert drop_first_person_sentences(mine) == (mine, 0)


def test_sentences_with_stray_foreign_words_are_dropped_unless_a_french_article_uses_them() -> None:
    german = "Drei verrückte Orte in Berlin: die S-Bahn ist nicht nur ein Verkehrsmittel, sagt er."
    recap = "Le blog décrit trois lieux de Berlin. Il y a beaucoup de choses verrücktes. Le métro les relie."
    assert drop_sentences_with_foreign_words(recap, german) == (
        "Le blog décrit trois lieux de Berlin. Le métro les relie.",
        1,
    )
    french = "Le ministre défend le fact checking et une policy claire, dit-il aux députés réunis mardi."
    view = "Le ministre parle de policy. Les députés doutent."
    assert drop_sentences_with_foreign_words(view, french) == (view, 0)
    assert drop_sentences_with_foreign_words("Die S-Bahn ist pünktlich.", german) == ("Die S-Bahn ist pünktlich.", 0)
    # A word in another script (orangesum-20's recap, 2026-12-07), whatever the article.
    bac = "Le grand oral dure vingt minutes. Les lycéens le préparent toute l'année."
    written = "La réforme change le bac. Le grand oral est prévu pour durer 20分钟. Il compte beaucoup."
    assert drop_sentences_with_foreign_words(written, bac) == ("La réforme change le bac. Il compte beaucoup.", 1)


def test_sentences_ending_on_a_word_cut_short_are_dropped_unless_none_would_be_left() -> None:
    sources = "Les agriculteurs ne sont pas obligés de l'utiliser."
    view = "Le produit aide les cultures. Il est vendu à des agriculteurs qui sont pas oblig."
    assert drop_truncated_sentences(view, sources) == ("Le produit aide les cultures.", 1)
    assert drop_truncated_sentences("Ils sont pas oblig.", sources) == ("Ils sont pas oblig.", 0)
    assert drop_truncated_sentences("Ils sont obligés.", sources) == ("Ils sont obligés.", 0)


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        # orangesum-26's whole neutral view (2026-12-07): one side, the correlative left hanging.
        (
            "D'un côté, la crue soudaine a causé des dégâts graves à la région, avec trois morts.",
            "La crue soudaine a causé des dégâts graves à la région, avec trois morts.",
        ),
        # The dispute opening (orangesum-13): its camp stays, as the subject.
        (
            "D'un côté, ceux qui ont participé ont affirmé que le mouvement a été relancé. Ils sont 1.500.",
            "Ceux qui ont participé ont affirmé que le mouvement a été relancé. Ils sont 1.500.",
        ),
        # « jamais » is not « mais ».
        ("D'un côté, la loi n'a jamais été appliquée.", "La loi n'a jamais été appliquée."),
        # Turning to another side, or to a contrast: kept.
        ("D'un côté, la loi protège. De l'autre côté, elle coûte.", None),
        ("D'un côté, la loi protège. Cependant, elle coûte.", None),
        ("D'un côté, la loi protège, mais elle coûte.", None),
        ("D'un côté, la loi protège alors que le budget baisse.", None),
        # Without the opening: nothing to take off.
        ("La loi protège.", None),
    ],
)
def test_a_neutral_view_turning_to_no_other_side_loses_its_d_un_cote(view: str, expected: str | None) -> None:
    assert drop_one_sided_opening(view, "D'un côté,") == (expected or view)


def test_a_part_does_not_open_on_a_linking_word() -> None:
    """fr05's recap, its first sentence dropped, began « Cependant, les prétendus effets … »."""
    assert drop_opening_link("Cependant, les effets ne sont pas démontrés.") == "Les effets ne sont pas démontrés."
    assert drop_opening_link("En outre, l'agence conclut autrement.") == "L'agence conclut autrement."
    # Inside the part, or a word that only looks like one ("Or" the metal has no comma), it stays.
    kept = "Les effets sont discutés. Cependant, les agences concluent autrement."
    assert drop_opening_link(kept) == kept
    assert drop_opening_link("Or et argent montent.") == "Or et argent montent."


def test_a_title_put_over_the_prose_is_dropped() -> None:
    """tricky03's recap opened on the German page's own title, as a line of its own."""
    prose = "Trois lieux insolites de Berlin sont décrits. Le blog les recommande."
    assert clean_prose("3 verrückte Orte en Berlin\n\n" + prose, max_paragraphs=3) == prose
    title = "Notre pays est au bord du gouffre : Emmanuel Macron lance le grand débat national"  # fr25's
    assert clean_prose(f"{title}\n\n{prose}", max_paragraphs=3) == prose
    too_long = "Le maire de la commune a pris la parole devant le président et les autres élus de la région"
    assert clean_prose(f"{too_long}\n\n{prose}", max_paragraphs=3).startswith(too_long)
    # Not a title: a sentence wrapped over two lines, the first item of a list without bullets, a
    # bullet, or a line with nothing after it.
    wrapped = "La CGT annonce 12 000 grévistes\nà Lyon mardi. Les syndicats suivent."
    assert clean_prose(wrapped, max_paragraphs=1).startswith("La CGT annonce 12 000 grévistes à Lyon")
    listed = "Le glyphosate sera interdit\nLes agriculteurs protestent\nLa FNSEA réagit"
    assert clean_prose(listed, max_paragraphs=1).startswith("Le glyphosate sera interdit")
    assert clean_prose("- La grève continue\n- Les syndicats suivent.", max_paragraphs=1) == (
        "La grève continue. Les syndicats suivent."
    )
    assert clean_prose("La grève continue", max_paragraphs=1) == "La grève continue."


def test_a_view_written_as_one_quotation_is_unwrapped_but_real_quotes_stay() -> None:
    """orangesum-1's optimistic and pessimistic views came whole in quotation marks, opening on
    "Il est important de comprendre que", which says nothing."""
    raw = '"Il est important de comprendre que ces qualificatifs ne reposent sur aucune compétence."'
    assert clean_prose(raw, max_paragraphs=1) == "Ces qualificatifs ne reposent sur aucune compétence."
    assert clean_prose("« La réforme avance ».", max_paragraphs=1) == "La réforme avance."
    assert clean_prose('"il faut agir vite."', max_paragraphs=1) == "Il faut agir vite."
    assert clean_prose("L’essentiel est que la réforme avance enfin.", max_paragraphs=1) == "La réforme avance enfin."
    for kept in (
        "Le maire a dit « non » et « jamais ».",
        "« Non », dit-il. « Jamais ».",
        '"Oui» et non.',
        "« Nous agirons, a déclaré le ministre, dès demain. »",  # attributed: a real quotation
    ):
        assert clean_prose(kept, max_paragraphs=1) == kept


def test_the_opposite_claim_in_the_same_words_is_not_a_repeat() -> None:
    """fr25, embedded model, AVX2 machine: the pessimistic view mirrored the optimistic one's frame, and
    its only own claim was dropped as a repeat, leaving the part empty twice (a placeholder)."""
    optimistic = (
        "Le grand débat national a été un succès. Les maires de Normandie ont été invités à présenter leurs "
        "doléances, et Dominique Chauvel a été particulièrement remarquée."
    )
    pessimistic = (
        "Le grand débat national est un risque. Les maires de Normandie sont invités à présenter leurs "
        "doléances, mais Dominique Chauvel a été particulièrement remarquée."
    )
    assert clean_prose(pessimistic, max_paragraphs=1, seen=optimistic) == "Le grand débat national est un risque."
    # A paraphrase in other forms of the same words is still a repeat (the same run's second attempt).
    earlier = "Elle a expliqué qu'elle était déçue par Emmanuel Macron, mais elle a longtemps hésité à venir."
    paraphrase = "Elle explique qu'elle était déçue by Emmanuel Macron, mais elle avait longtemps hésité àvenir."
    assert clean_prose(paraphrase, max_paragraphs=1, seen=earlier) == ""
    # Within one part, a near-copy that differs by a word is still a loop.
    looped = "Le grand débat national a été un succès. Le grand débat national a été un triomphe."
    assert clean_prose(looped, max_paragraphs=1) == "Le grand débat national a été un succès."


@pytest.mark.parametrize(
    ("earlier", "sentence"),
    [
        # orangesum-48's neutral view (2026-12-07): three new words, all links.
        (
            "Les surveillants ont un statut spécial et il n'y a pas de droit grève.",
            "Cependant, d'un autre côté, les surveillants ont un statut spécial, et il n'y a pas de droit grève.",
        ),
        # orangesum-1's pessimistic view: a frame and two words, the recap again (ROUGE-L 0.87).
        (
            "Ce document a été utilisé pour faire entrer des FO dans le bureau confédéral, ce qui est une grave "
            "violation de l'ordre du travail.",
            "Il est clair que ce document interne a été utilisé pour faire entrer des FO dans le bureau "
            "confédéral, ce qui constitue une grave violation de l'ordre du travail.",
        ),
        # tricky03's pessimistic view (2026-12-07): a synonym and « des gens », the recap again (0.79).
        (
            "Ils sont tous des sites qui ont été construits pour le plaisir de l'homme, mais qui ont également "
            "été utilisés pour des fins de violence ou de maléfice.",
            "Ils sont tout à fait des sites qui ont été conçus pour le plaisir de l'homme, et qui ont également "
            "été utilisés par des gens pour des fins de violence et de maléfice.",
        ),
    ],
)
def test_a_sentence_restating_an_earlier_part_goes_whatever_links_it_adds(earlier: str, sentence: str) -> None:
    kept = "Les syndicats y voient une atteinte au dialogue social."
    assert clean_prose(f"{sentence} {kept}", max_paragraphs=1, seen=earlier) == kept


@pytest.mark.parametrize(
    ("earlier", "sentence"),
    [
        # orangesum-14's pessimistic view (2026-12-07): 0.77 of it in the recap's sentence, F 0.56; its
        # « bonne santé » from the neutral view.
        (
            "Son énergie a montré qu'il est toujours en bonne santé. L'homme d'affaires, qui a été absent depuis "
            "plusieurs semaines, a montré qu'il est toujours en vie et en pleine forme.",
            "Cependant, l'homme d'affaires est toujours en vie et en bonne santé.",
        ),
        # orangesum-16's pessimistic view: 0.83 held, F 0.59.
        (
            "Les blessés se retournent contre la Ville de Paris et la municipalité va durcir la réglementation "
            "pour remettre un peu d'ordre.",
            "La municipalité va durcir les règles pour remettre un peu d'ordre.",
        ),
    ],
)
def test_a_short_sentence_held_in_an_earlier_long_one_goes(earlier: str, sentence: str) -> None:
    kept = "Les syndicats y voient une atteinte au dialogue social."
    assert clean_prose(f"{sentence} {kept}", max_paragraphs=1, seen=earlier) == kept
    # Held as much, but with a claim of its own: it stays.
    claim = sentence[:-1] + ", mais cette annonce inquiète ses créanciers et ses salariés."
    assert clean_prose(claim, max_paragraphs=1, seen=earlier) == claim


@pytest.mark.parametrize(
    ("earlier", "sentence"),
    [
        # orangesum-36's neutral view (2026-12-07): the recap's sentence, its « il » named from the recap.
        (
            "Le fils de Charles Aznavour prépare un album. Ce pourrait être des chanteurs avec qui il avait des "
            "affinités, de la nouvelle génération.",
            "Cela pourrait être des chanteurs qui ont des affinités avec Charles Aznavour, de la nouvelle génération.",
        ),
        # orangesum-10's optimistic view: the recap's quotation, its people taken from the recap's first sentence.
        (
            "Jacques Chirac et Emmanuel Macron se sont rendus à son domicile. La visite a été « un moment de grande "
            "qualité et de grande courtoisie », rapporte la fille de l'ex-président.",
            "La visite de Jacques Chirac et Emmanuel Macron à leur domicile a été un moment de grande qualité et "
            "courtoisie, selon la fille de l'ex-président.",
        ),
    ],
)
def test_a_sentence_close_to_an_earlier_one_with_only_words_of_the_earlier_parts_goes(
    earlier: str, sentence: str
) -> None:
    kept = "Les syndicats y voient une atteinte au dialogue social."
    assert clean_prose(f"{sentence} {kept}", max_paragraphs=1, seen=earlier) == kept
    # Alone, without the sentence that gave it its other words, it brings words of its own.
    closest = earlier.split(". ")[-1]
    assert clean_prose(sentence, max_paragraphs=1, seen=closest) == sentence


@pytest.mark.parametrize(
    "looped",
    [
        # fr02 and fr04's neutral views (embedded model, 2026-11-23 samples).
        "Les faits sont clairs et les faits sont clairs.",
        "On sait que les camps sont des endroits où les migrants sont enfermés, mais on ignore encore que les "
        "camps sont des endroits où les migrants sont enfermés.",
        "Cela montre la tradition de la légère, qui est le début de l'histoire de la légère, et qui est le début "
        "de l'histoire de la légère.",
    ],
)
def test_a_sentence_saying_the_same_words_twice_is_dropped(looped: str) -> None:
    kept = "Le texte a été adopté mardi."
    assert clean_prose(f"{kept} {looped}", max_paragraphs=1) == kept


@pytest.mark.parametrize(
    "sentence",
    [
        # Parallel constructions and refrains that say something each time.
        "Plus on travaille, plus on gagne, et plus on gagne, plus on dépense.",
        "Le nombre de chômeurs a baissé de 2 % en mars et le nombre de chômeurs a baissé de 3 % en avril.",
        "Le oui l'emporte à Paris, le oui l'emporte à Lyon.",  # short, but names differ outside the refrain
        "Les partisans du texte veulent protéger les salariés, tandis que ses adversaires veulent protéger les "
        "entreprises et leurs emplois.",
        "Le Sénat votera le texte, puis l'Assemblée votera le texte en seconde lecture avant l'été, après un "
        "long débat entre les groupes et un avis du Conseil d'État sur sa constitutionnalité.",
    ],
)
def test_a_sentence_with_a_short_refrain_is_kept(sentence: str) -> None:
    assert clean_prose(sentence, max_paragraphs=1) == sentence


def test_a_rule_line_is_a_paragraph_break_not_text() -> None:
    """orangesum-6 (embedded model): the recap and every neutral view opened with "---"."""
    raw = "---\n\nSoleimani a été tué par une frappe américaine à Bagdad.\n***\nL'Iran a riposté.\n* * *"
    assert clean_prose(raw, max_paragraphs=3) == (
        "Soleimani a été tué par une frappe américaine à Bagdad.\n\nL'Iran a riposté."
    )
    assert clean_prose("---", max_paragraphs=1) == ""
    # A rule before a heading is not content: the heading is skipped, not taken for the next part's.
    for heading in ("Récapitulatif :", "**Point de vue neutre**"):
        raw = f"---\n{heading}\nSoleimani a été tué par une frappe américaine à Bagdad."
        assert clean_prose(raw, max_paragraphs=1) == "Soleimani a été tué par une frappe américaine à Bagdad."


def test_the_recap_prompt_s_words_used_as_a_label_are_removed() -> None:
    """orangesum-15 and -24 (embedded model): the recap opened on "Ce qui s'est passé :"."""
    raw = "Ce qui s'est passé : Des automobilistes ont passé la nuit bloqués sur l'autoroute A10."
    assert clean_prose(raw, max_paragraphs=1) == "Des automobilistes ont passé la nuit bloqués sur l'autoroute A10."
    for kept in (
        "Ce qui s'est passé mardi reste flou pour les enquêteurs.",
        "Ce qui s'est passé — selon les premiers témoins — reste flou.",
    ):
        assert clean_prose(kept, max_paragraphs=1) == kept
    assert clean_prose("Ce qui s'est passé : le gouvernement a cédé.", max_paragraphs=1) == "Le gouvernement a cédé."


def test_sentences_about_the_digest_itself_are_dropped() -> None:
    """orangesum-4 and orangesum-18 (embedded model, 2026-12-02): a recap paragraph spoke of itself."""
    raw = (
        "La France rend hommage à Simone Veil au Panthéon.\n\nCette récapitulatif fait référence à la "
        "cérémonie de dimanche. Elle est accompagnée par son mari Antoine."
    )
    assert clean_prose(raw, max_paragraphs=2) == (
        "La France rend hommage à Simone Veil au Panthéon.\n\nElle est accompagnée par son mari Antoine."
    )
    assert clean_prose("Ce résumé présente les faits.", max_paragraphs=1) == ""
    # orangesum-24's optimistic view (2026-12-07)
    raw = "Les fumeurs seraient moins touchés. Ce résumé de l'article souligne la promesse de protection."
    assert clean_prose(raw, max_paragraphs=1) == "Les fumeurs seraient moins touchés."
    # orangesum-44's pessimistic view (2026-12-07)
    raw = "Le résumé fait référence à Roger Moore, un acteur. Ses films ont vieilli."
    assert clean_prose(raw, max_paragraphs=1) == "Ses films ont vieilli."
    for kept in (
        "Le résumé des débats parlementaires a été publié mardi. La synthèse sera votée.",
        "Le GIEC a publié son rapport. Cette synthèse de 40 pages appelle à agir d'ici 2030.",
    ):
        assert clean_prose(kept, max_paragraphs=1) == kept


def test_the_opening_formula_goes_also_when_the_first_paragraph_went_as_a_repeat() -> None:
    """fr05's pessimistic view (embedded model): its first paragraph repeated the optimistic one, and the
    next, now first, opened on "Il est important de noter que"."""
    seen = "Le glyphosate protège les récoltes des parasites."
    raw = "Le glyphosate protège les récoltes des parasites.\n\nIl est important de noter que ce produit nuit aux sols."
    assert clean_prose(raw, max_paragraphs=1, seen=seen) == "Ce produit nuit aux sols."


def test_a_stock_formula_inside_a_sentence_goes_and_its_point_stays() -> None:
    """« Cependant, il est important de noter que » opened a sentence of the views in 7 of 19 digests
    (embedded model, code of 388afed): it announces a point instead of making it."""
    first = "Le projet promet des emplois dans la région."
    for written, mended in (
        ("Cependant, il est important de noter que le coût reste inconnu.", "Cependant, le coût reste inconnu."),
        ("Il convient de rappeler qu'il s'agit d'un premier pas.", "Il s'agit d'un premier pas."),
        ("Mais il faut souligner que Paris n'a rien signé.", "Mais Paris n'a rien signé."),
        # With an adverb on either side of its verb (the 54 digests of 2026-12-07).
        ("Il est également important de noter que Roger Moore a tourné.", "Roger Moore a tourné."),
        ("Cependant, il est important de noter également que la situation change.", "Cependant, la situation change."),
        ("Il est donc important de noter que la mémoire est mal traitée.", "La mémoire est mal traitée."),
        # Its second « que » goes with it (orangesum-6), not one of the point's own (« dit que … et que »).
        (
            "Il est également important de rappeler que la justice est impartiale et que ses décisions sont fondées.",
            "La justice est impartiale et ses décisions sont fondées.",
        ),
        ("Il faut noter qu'il est parti et qu'elle reste.", "Il est parti et elle reste."),
        (
            "Il faut noter que le maire dit que la ville paie et que l'État aide.",
            "Le maire dit que la ville paie et que l'État aide.",
        ),
    ):
        assert clean_prose(f"{first} {written}", max_paragraphs=1) == f"{first} {mended}"
    for kept in (
        f"{first} Il est important de noter que rien.",  # too little left for a sentence
        f"{first} Il est important de protéger les sols.",  # a claim, not a formula
        f"{first} Il faut noter les progrès.",  # no « que »: the formula is the sentence
    ):
        assert clean_prose(kept, max_paragraphs=1) == kept


def test_il_est_incertain_si_is_said_in_french() -> None:
    """« il est incertain si » (7 times in 19 digests) calques "it is uncertain whether"."""
    raw = "La foire aura lieu. Il est incertain si la foule viendra, et il reste incertain si elle sera utile."
    assert clean_prose(raw, max_paragraphs=1) == (
        "La foire aura lieu. On ne sait pas si la foule viendra, et on ne sait pas encore si elle sera utile."
    )
    kept = "La foire aura lieu. Son avenir est incertain, si rien ne change."
    assert clean_prose(kept, max_paragraphs=1) == kept


def test_a_word_with_an_accent_missing_or_misplaced_is_written_right() -> None:
    """« prémeditées », « cancerogènes », « extremismes »: in the 19 digests of 9c65125."""
    text = "Des attaques prémeditées, des produits cancerogènes et des extremismes ; tranquillément."
    assert mend_accents(text, "") == (
        "Des attaques préméditées, des produits cancérogènes et des extrémismes ; tranquillement.",
        4,
    )
    # Not touched: a known word, the article's own spelling, a word with no accented neighbour.
    for kept, article in (
        ("Le marche de Noël.", ""),  # « marche » is a word: no guess at « marché »
        ("Le résorcinole est interdit.", "Le résorcinole est interdit."),
        ("Un butinier passe.", ""),
    ):
        assert mend_accents(kept, article) == (kept, 0)


def test_a_sentence_speaking_to_the_reader_or_echoing_the_instruction_goes() -> None:
    """The views of fr25 and orangesum-0 (2026-12-06) ended on an aside about « le lecteur », from the
    recap's instruction, or on the optimistic instruction's « quelqu'un qui y croit »."""
    first = "La maire de Saint-Valéry-en-Caux met en garde contre la montée des extrémismes."
    for aside in (
        "C'est une situation que le lecteur doit comprendre, car elle est incertaine.",
        "Cette situation est incertaine et que le lecteur doit faire de son propre choix.",
        "Cela pourrait être un bon point de vue pour quelqu'un qui y croit.",
    ):
        assert clean_prose(f"{first} {aside}", max_paragraphs=1) == first
    # The frame at a sentence's start still goes alone, keeping what it frames.
    framed = f"{first} Le lecteur doit comprendre que la réforme reste floue."
    assert clean_prose(framed, max_paragraphs=1) == f"{first} La réforme reste floue."


def test_a_sentence_listing_in_a_loop_goes() -> None:
    """fr05's optimistic view (2026-12-06): a list of made-up items the model could not stop."""
    first = "Si le glyphosate est réduit, la santé des agriculteurs pourrait s'améliorer."
    limbs = ("bras", "coude", "genou", "pied", "dos")
    items = ", ".join(f"du lobe {side} du {limb}" for limb in limbs for side in ("gauche", "droit"))
    assert clean_prose(f"{first} Il pourrait réduire les cancers {items}.", max_paragraphs=1) == first
    # A refrain said a few times informs: it stays.
    kept = (
        f"{first} La hausse des prix de l'énergie, la hausse des prix des loyers et la hausse des prix "
        "de l'alimentation pèsent sur les ménages."
    )
    assert clean_prose(kept, max_paragraphs=1) == kept


@pytest.mark.parametrize(
    ("looped", "cut"),
    [
        # orangesum-34's neutral view and orangesum-20's analogy (2026-12-07), orangesum-42's optimistic
        # view (2026-12-06): a list closing the sentence, on one phrase said three times.
        (
            "Ils envisagent de partir en septembre, au lieu de l'été, en juillet, au lieu de l'été, et en "
            "octobre, au lieu de l'été.",
            "Ils envisagent de partir en septembre, au lieu de l'été.",
        ),
        (
            "Le masque sera bénéfique pour les personnes qui ont des allergies, pour les personnes qui "
            "travaillent dehors, pour les personnes qui ont une activité physique, et pour les personnes "
            "qui ont besoin de protection.",
            "Le masque sera bénéfique pour les personnes qui ont des allergies.",
        ),
        (
            "Les élèves de la filière S ont acquis des compétences en mathématiques, les élèves de la filière "
            "ES ont acquis des compétences en sciences, et les élèves de la filière L ont acquis des "
            "compétences en français ?",
            "Les élèves de la filière S ont acquis des compétences en mathématiques ?",
        ),
        # The list does not close the sentence (what it is the subject of comes after it): it goes.
        (
            "La hausse des prix de l'énergie, la hausse des prix de l'eau et la hausse des prix de la "
            "nourriture pèsent lourdement sur les ménages modestes.",
            None,
        ),
        # No comma after the first item: nowhere to cut, it goes.
        ("Ils partent au lieu de l'été et au lieu de l'été puis au lieu de l'été.", None),
    ],
)
def test_a_phrase_said_three_times_in_a_sentence_is_cut_after_its_first_item(looped: str, cut: str | None) -> None:
    first = "Le gouvernement appelle les Français à réserver leurs vacances."
    then = "Cela doit relancer le tourisme."
    expected = " ".join(s for s in (first, cut, then) if s)
    assert clean_prose(f"{first} {looped} {then}", max_paragraphs=1) == expected


GLUED_ARTICLE = (
    "Elle a perdu ses parents pendant la Seconde Guerre mondiale. Il faut remettre un peu d’ordre dans les "
    "trottinettes. Le résorcinol est interdit."
)


def test_a_phrase_of_the_article_the_model_glued_gets_its_space_back() -> None:
    """The anti-copy hook never penalises a word's continuation: barred from " mondiale", the model
    glued it on (the 50-item run's "guerremondiale", "perduses", "deordre")."""
    text = "Elle a perduses parents pendant la Seconde guerremondiale, pour remettre un peu deordre."
    mended, count = unglue_words(text, GLUED_ARTICLE)
    assert mended == "Elle a perdu ses parents pendant la Seconde guerre mondiale, pour remettre un peu d'ordre."
    assert count == 3 and unknown_words(mended, GLUED_ARTICLE) == []


def test_words_joined_by_an_underscore_or_before_a_capital_are_parted() -> None:
    """fr05's sample: "Greenpeace … bannit lesEssais", "les effets du_glyphosate"."""
    sources = "La communauté bannit les essais nucléaires. Le maire de Paris. Le glyphosate. Vendu sur eBay."
    text = "Elle bannit lesEssais du_glyphosate, dit le maire deParis, et vend sur eBay comme McArthur."
    mended, count = unglue_words(text, sources)
    # Spelt as the sources write the two words; an underscore always goes; a brand or a name the
    # sources never write apart stays.
    assert mended == "Elle bannit les essais du glyphosate, dit le maire de Paris, et vend sur eBay comme McArthur."
    assert count == 3


@pytest.mark.parametrize(
    "text",
    [
        "Il parle tranquillément.",  # misspelt, but no phrase of the article to restore
        "Le résorcinol est interdit.",  # the article's own rare word
        "Les parlementaires ont perdu.",  # French knows the word: never split ("parle mentaires")
        "Le Guerremondiale est un nom.",  # capitalised: a name
    ],
)
def test_only_an_unknown_word_that_the_sources_write_in_two_is_split(text: str) -> None:
    assert unglue_words(text, GLUED_ARTICLE + " Il parle mentaires.") == (text, 0)


@pytest.mark.parametrize(
    ("written", "mended", "count"),
    [
        # Each seen in the digests of 2026-12-04 (bench dumps of orangesum-4, -13, -47, -69, -212, fr05).
        ("Les efforts de Emmanuel Macron.", "Les efforts d'Emmanuel Macron.", 1),
        ("Il a tweeté que il ferait un test.", "Il a tweeté qu'il ferait un test.", 1),
        ("On ne sait pas si il est coupable.", "On ne sait pas s'il est coupable.", 1),
        (
            "S'opposer au glyphosate, ce est s'opposer à Monsanto.",
            "S'opposer au glyphosate, c'est s'opposer à Monsanto.",
            1,
        ),
        ("Il faut maintenir le ordre.", "Il faut maintenir l'ordre.", 1),
        ("Cependant, le homme refuse.", "Cependant, l'homme refuse.", 1),
        ("Elle partageait la affiche avec lui.", "Elle partageait l'affiche avec lui.", 1),
        ("Ce homme est arrivé cet été.", "Cet homme est arrivé cet été.", 1),
        ("Que il parte ! Il le a dit, jusque à demain.", "Qu'il parte ! Il l'a dit, jusqu'à demain.", 3),
        ("Est-ce que elle viendra ?", "Est-ce qu'elle viendra ?", 1),
        # The apostrophe lost (fr25's sample, orangesum dumps): « d » and « n » never stand alone.
        (
            "La maire d Saint-Valéry n dispose d aucun moyen de d détecter.",
            "La maire de Saint-Valéry ne dispose d'aucun moyen de de détecter.",
            4,
        ),
        # Found by a review of the mender (2026-12-05).
        ("Il n y a rien, je y vais, ne y pense plus.", "Il n'y a rien, j'y vais, n'y pense plus.", 3),
        ("Envie de y aller jusque où il veut.", "Envie d'y aller jusqu'où il veut.", 2),
        ("De Emmanuel Macron à Hugo : le hydrogène de Hélène.", "D'Emmanuel Macron à Hugo : l'hydrogène d'Hélène.", 3),
        ("Il a vu le ouest et la ouverture.", "Il a vu l'ouest et l'ouverture.", 2),
        ("L’avis de Emmanuel Macron.", "L’avis d’Emmanuel Macron.", 1),  # the text's own apostrophe
        # fr25's analogy (2026-12-05).
        (
            "Un nouveau habitant arrive, un beau été, le vieux homme.",
            "Un nouvel habitant arrive, un bel été, le vieil homme.",
            3,
        ),
    ],
)
def test_elisions_french_makes_are_mended(written: str, mended: str, count: int) -> None:
    assert mend_elisions(written) == (mended, count)


@pytest.mark.parametrize(
    "text",
    [
        "Le hockey, la haine, le héros et la hiérarchie.",  # aspirated h: never elided
        "Un article à la une, le ou la responsable, un enfant de onze ans.",
        "Ce en quoi il croit, ce à quoi elle pense.",  # "ce" opening a relative clause
        "Faites-le encore, prends-la ici.",  # an imperative's pronoun keeps its vowel
        "Le 8 mai, de 10 à 12 heures, la Hollande et le Havre.",  # figures; names with an aspirated H
        "Parlez-en à Me Albert.",  # « Me », a lawyer's title, is not « me »
        "La vitamine D et le plan N sont prêts.",  # a capital letter standing alone is a name
        # Found by a review of the mender (2026-12-05).
        "Le IIIe Reich et le XIXe siècle, de IVe en Ve République.",  # Roman numerals
        "Le ouistiti de Ouagadougou, le one-man-show de Ouattara.",  # a w sound
        "Le directeur Qu Dongyu parle.",  # a Chinese name
        "Répété n fois, 3 d et la lettre d est muette.",  # a variable, a figure, a letter
        "Ce ont été des mois durs, ce avait été long.",  # a slip for « ce sont », not « cet »
        "Ana de Armas et Marine Le Pen chez De Agostini.",  # particles of names
        "Le y et la y grecque.",  # the letter
        "Il fait beau aujourd'hui, un nouveau et un vieux, le beau hockey.",  # no determiner; a conjunction
    ],
)
def test_what_french_does_not_elide_is_left_alone(text: str) -> None:
    assert mend_elisions(text) == (text, 0)


def test_sentences_about_the_article_as_a_text_are_dropped() -> None:
    """fr25's recap (2026-12-04) closed on a paragraph about itself, the recap's instruction echoed."""
    raw = (
        "La maire a interpellé le président. Elle craint la montée des extrémismes.\n\n"
        "Il souligne les points clés de la nouvelle, tels que la déception de la maire. "
        "Il explique la notion que le lecteur doit comprendre, en résumant les points clés."
    )
    assert (
        clean_prose(raw, max_paragraphs=3)
        == "La maire a interpellé le président. Elle craint la montée des extrémismes."
    )
    kept = "Le ministre a présenté les points clés de la réforme aux syndicats."
    assert clean_prose(kept, max_paragraphs=3) == kept
    # The instruction as a frame (orangesum-0): the frame goes, the fact stays.
    framed = "Le lecteur doit comprendre que la scène a été signalée aux autorités."
    assert clean_prose(framed, max_paragraphs=3) == "La scène a été signalée aux autorités."
    # What the frame coordinated becomes a sentence of its own (orangesum-0, 2026-12-05).
    framed = "Le lecteur doit comprendre que la scène a été signalée et qu'elle a choqué."
    assert clean_prose(framed, max_paragraphs=3) == "La scène a été signalée. Elle a choqué."


def test_sentences_restating_an_instruction_go_not_those_sharing_a_few_words() -> None:
    asked = [
        "Écris maintenant le point de vue neutre en un paragraphe, environ 45 mots : présente calmement la "
        "tension entre les positions en présence, ce que l'on sait et ce que l'on ignore encore.",
        "Écris le récapitulatif factuel. Commence par une phrase qui dit l'essentiel de la nouvelle : ce qui "
        "s'est passé, qui est concerné, quand.",
    ]
    view = (
        "Les maires veulent plus de moyens, l'État répond par un débat. "
        "Cela montre la tension entre les positions en présence, ce que l'on sait et ce que l'on ignore encore. "
        "Ce que l'on ignore encore, c'est le calendrier."  # one phrase of the instruction, and news
        "\n\nCe qui s'est passé, qui est concerné, quand."  # tricky03's recap: the recap's instruction
    )
    assert drop_instruction_echoes(view, asked) == (
        "Les maires veulent plus de moyens, l'État répond par un débat. "
        "Ce que l'on ignore encore, c'est le calendrier.",
        2,
    )
    # Words the code makes a part open with are joined to its first sentence, which stays.
    opened = "la tension entre les positions en présence est vive. Les maires hésitent."
    assert drop_instruction_echoes(opened, asked, keep_first=True) == (opened, 0)
    assert drop_instruction_echoes(opened, asked) == ("Les maires hésitent.", 1)
    # A part that is nothing but the instruction is left for its check to judge.
    alone = "Ce qui s'est passé, qui est concerné, quand."
    assert drop_instruction_echoes(alone, asked) == (alone, 0)
    assert drop_instruction_echoes(view, []) == (view, 0)


@pytest.mark.parametrize(
    "advice",
    [
        # Closing pessimistic views of the 54 digests of 2026-12-07 (orangesum-0, -6, -34).
        "Il est donc crucial de respecter les règles et les normes de comportement.",
        "Il est important de vérifier les informations et de faire des recherches supplémentaires.",
        "Cependant, il est donc important de prendre des mesures préventives pour éviter les maladies.",
        "C'est essentiel d'agir avec prudence et de rester vigilant.",
    ],
)
def test_generic_advice_closing_a_view_goes(advice: str) -> None:
    article = "Le gouvernement appelle les Français à réserver leurs vacances d'été pour relancer le tourisme."
    view = "Le tourisme pourrait ne pas repartir si les Français hésitent encore à réserver."
    assert drop_advice_sentences(f"{view} {advice}", article) == (view, 1)


def test_advice_on_the_article_s_subject_and_the_stock_formula_stay() -> None:
    article = "Les cumuls de pluie ont provoqué des inondations ; les mesures préventives ont manqué."
    # Advice on the article's own subject (orangesum-19: 0.6 of its words are the article's).
    grounded = "Il est important de prendre des mesures préventives et de prévoir les cumuls de pluie."
    assert drop_advice_sentences(grounded, article) == (grounded, 0)
    # « il est important de noter que … » is `_FILLER`'s: the formula goes, not its point.
    noted = "La pluie reviendra. Il est important de noter que la saison commence."
    assert drop_advice_sentences(noted, article) == (noted, 0)
    # A view made only of advice stays as it is (its check then asks for another attempt).
    only = "Il est crucial de rester prudent."
    assert drop_advice_sentences(only, article) == (only, 0)


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        # The hook's instruction said back as a frame (orangesum-3, -15, 2026-12-07): the frame goes.
        (
            "Une nouvelle importante : les obsèques de François Hollande sont organisées mardi. #Obsèques #Ehpad",
            "Les obsèques de François Hollande sont organisées mardi.",
        ),
        (
            "Des automobilistes ont passé une nuit de malheur sur l'A10. Ce qui compte : les automobilistes sont "
            "invités à emprunter la sortie 11. #A10 #Neige",
            "Des automobilistes ont passé une nuit de malheur sur l'A10. Les automobilistes sont invités à "
            "emprunter la sortie 11.",
        ),
        # A hook about the digest, not the news (tricky03): the recap's first sentence stands in.
        (
            "Un résumé factuel de l'article sur les sites les plus terrifiants de Berlin. #Berlin #Sites",
            "La réforme est contestée par les syndicats.",
        ),
        # « le résumé » of something else, and « la nouvelle » as a subject, are the news.
        (
            "Le résumé des épisodes de la série est diffusé. La nouvelle saison commence. #Série #France2",
            "Le résumé des épisodes de la série est diffusé. La nouvelle saison commence.",
        ),
    ],
)
def test_the_hook_announces_the_news_not_its_instruction(raw: str, body: str) -> None:
    hook = build_hook(raw, ARTICLE, "La réforme est contestée par les syndicats. Elle sera votée en mai.")
    assert hook.startswith(f"{body} ")
