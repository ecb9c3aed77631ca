"""Charset decoding and mojibake repair (bot.pipeline.decode)."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path

import pytest

from bot.pipeline.decode import decode_html, decode_text, repair_text, restore_accents

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("AGORA_CORPUS", REPO.parent / "shared" / "corpus"))
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "index.json").exists(), reason=f"test corpus not found at {CORPUS} (set AGORA_CORPUS)"
)

# Real French sentences with every kind of character mojibake mangles: accents, capitals,
# œ, typographic apostrophes and quotes, dashes, ellipsis, euro, no-break spaces.
FRENCH = [
    "Le modèle d’IA de l’État coûte 5 € par mois… « très cher », dit-il – à cœur ouvert.",
    "Ça va ? Où ? À l’Élysée, à l’école, déjà : voilà un naïf qui s’était trompé.",
    "L’Assemblée nationale a voté, sous les applaudissements, l’ouverture de la procréation "
    "médicalement assistée à toutes les femmes.",
    "Alors que le mouvement social contre la réforme des retraites est très suivi, certains "
    "salariés ont choisi de ne pas faire grève.",
    "« Notre pays est au bord du gouffre », a lancé la maire devant le président de la République.",
    "Les Français veulent réduire les dépenses de l’État : 53 % chez les ouvriers, 75 % en zone rurale.",
    "Île-de-France : l’œuvre du préfet, jusqu’à présent, n’a pas été évaluée – c’est « inquiétant ».",
    "Aujourd’hui, l’hôpital public traverse une crise ; qu’en pensent les élus ?",
    "Grève générale : “on ne lâchera rien”, préviennent les syndicats, réunis à l’Hôtel de Ville.",
    "Où en est la loi ? Le Conseil constitutionnel l’a censurée en août 2020, à la surprise générale.",
]
CODECS = ["iso8859-16", "iso8859-2", "cp1250", "latin-1", "cp1252", "iso8859-15"]


def mojibake(text: str, codec: str, *, drop_c1: bool) -> str:
    """UTF-8 read with a single-byte codec; undefined bytes show as C1 controls, optionally lost."""
    chars = []
    for byte in text.encode("utf-8"):
        try:
            chars.append(bytes([byte]).decode(codec))
        except UnicodeDecodeError:
            chars.append(chr(byte))
    out = "".join(chars)
    return re.sub("[\x80-\x9f]", "", out) if drop_c1 else out


def word_share(expected: str, got: str) -> float:
    """Share of words of `expected` restored exactly, position by position."""
    want, have = expected.split(), got.split()
    if len(want) != len(have):
        return 0.0
    return sum(a == b for a, b in zip(want, have, strict=True)) / max(1, len(want))


# --- decoding ------------------------------------------------------------------------------------------


def test_bom_beats_header_and_meta() -> None:
    html = '<html><head><meta charset="shift_jis"></head><body>Réforme 조선</body></html>'
    for bom, codec in [
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ]:
        assert decode_html(bom + html.encode(codec), "iso-8859-1") == html


def test_header_charset_is_used() -> None:
    body = "<p>Un été très chaud à l’Élysée</p>".encode("cp1252")
    assert decode_html(body, "windows-1252") == "<p>Un été très chaud à l’Élysée</p>"
    assert decode_html("<p>Привет мир</p>".encode("koi8-r"), "koi8-r") == "<p>Привет мир</p>"


@pytest.mark.parametrize(
    "head",
    [
        '<meta charset="iso-8859-1">',
        "<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=ISO-8859-1'>",
        '<meta content="text/html;charset=windows-1252" http-equiv="content-type">',
    ],
)
def test_meta_charset_in_first_bytes(head: str) -> None:
    body = f"<html><head>{head}</head><body>Réforme des retraites : grève générale</body></html>"
    assert decode_html(body.encode("latin-1"), None) == body


def test_xml_declaration_encoding() -> None:
    body = b'<?xml version="1.0" encoding="ISO-8859-1"?><html><body>caf\xe9 \x92</body></html>'
    assert decode_html(body, None).endswith("café ’</body></html>")


def test_latin1_label_reads_as_cp1252() -> None:
    # Browsers read "ISO-8859-1" as windows-1252, and so do the servers that send it.
    body = b"<meta charset=iso-8859-1>l\x92\xe9t\xe9 co\xfbte 5 \x80 \x85 \x9c"
    assert decode_html(body, None) == "<meta charset=iso-8859-1>l’été coûte 5 € … œ"
    assert decode_text(b"l\x92Etat \x81", "latin1") == "l’Etat \x81"  # undefined byte: C1, no error


def test_declared_latin1_but_valid_utf8_is_utf8() -> None:
    body = '<meta charset="iso-8859-1"><p>Élysée, déjà, cœur</p>'.encode()
    assert decode_html(body, None) == '<meta charset="iso-8859-1"><p>Élysée, déjà, cœur</p>'
    assert decode_html(body, "iso-8859-1").endswith("<p>Élysée, déjà, cœur</p>")


def test_mostly_utf8_with_a_stray_latin1_byte() -> None:
    body = ("<p>" + "é" * 200 + "</p>").encode() + b"caf\xe9"
    assert decode_html(body, None).endswith("</p>café")


def test_header_lying_utf8_falls_back_to_meta() -> None:
    body = "<meta charset=iso-8859-1><p>Réforme</p>".encode("latin-1")
    assert decode_html(body, "utf-8") == "<meta charset=iso-8859-1><p>Réforme</p>"


def test_header_and_meta_disagree_less_chaotic_wins() -> None:
    text = "Le gouvernement a présenté un projet de réforme très contesté, à la veille de la grève. " * 5
    body = f"<meta charset=iso-8859-1><p>{text}</p>".encode("latin-1")
    assert text in decode_html(body, "windows-1251")


def test_detection_without_any_declaration() -> None:
    text = (
        "Le gouvernement a présenté mercredi un projet de réforme très contesté : les syndicats "
        "dénoncent une régression sociale et appellent à la grève générale dès la semaine prochaine."
    )
    assert decode_html(f"<p>{text}</p>".encode("cp1252"), None) == f"<p>{text}</p>"
    assert decode_text(text.encode("cp1252"), None) == text
    # Non-Latin guesses are kept (not forced to cp1252); the detector may still confuse a letter
    # or two between Cyrillic code pages on so short a text.
    russian = "Правительство представило в среду весьма спорный проект реформы пенсионной системы."
    got = decode_text(russian.encode("cp1251"), None)
    assert sum(a == b for a, b in zip(got, russian, strict=True)) >= 0.95 * len(russian)


def test_utf16_without_bom_is_sniffed() -> None:
    html = "<html><body><p>Réforme des retraites</p></body></html>"
    assert decode_html(html.encode("utf-16-le"), None) == html
    assert decode_html(html.encode("utf-16-be"), "iso-8859-1") == html


def test_decode_text_ignores_meta_like_text() -> None:
    body = "Voici <meta charset=koi8-r> en texte : été".encode()
    assert decode_text(body, None) == "Voici <meta charset=koi8-r> en texte : été"


@needs_corpus
def test_corpus_utf16_page_with_lying_meta() -> None:
    body = (CORPUS / "tricky06-kcna-utf16le-bom-meta-says-sjis" / "source.html").read_bytes()
    for header in (None, "shift_jis", "utf-8"):
        text = decode_html(body, header)
        assert "Korea News Service Korean News 조선통신 朝鮮通信" in text
        assert "\ufffd" not in text


@needs_corpus
@pytest.mark.parametrize("header", [None, "utf-8", "iso-8859-1", "windows-1251", "shift_jis"])
def test_corpus_pages_decode_the_same_whatever_the_header_says(header: str | None) -> None:
    for folder in ("fr01-aoc-retraite-neoliberalisme", "fr18-altereco-2007-travaillent-trop-peu",
                   "tricky02-forum-thread-iso8859-1-de", "tricky04-lemonde-2007-iso8859-1-fr",
                   "tricky05-lemonde-2007-declared-latin1-but-utf8-fffd-fr"):  # fmt: skip
        body = (CORPUS / folder / "source.html").read_bytes()
        assert decode_html(body, header) == decode_html(body, None), folder
    latin = decode_html((CORPUS / "tricky04-lemonde-2007-iso8859-1-fr" / "source.html").read_bytes(), header)
    assert "régimes spéciaux" in latin


@needs_corpus
def test_corpus_declared_latin1_but_utf8_keeps_its_replacement_chars() -> None:
    body = (CORPUS / "tricky05-lemonde-2007-declared-latin1-but-utf8-fffd-fr" / "source.html").read_bytes()
    text = decode_html(body, None)
    assert "ï¿½" not in text  # not read as latin-1
    assert text.count("\ufffd") == 494  # the letters were lost before we got the file


# --- mojibake repair -------------------------------------------------------------------------------------


def test_spec_examples() -> None:
    # ISO-8859-16 reading, C1 bytes dropped; the typographic apostrophe is restored as such (’).
    assert repair_text("Le modĂšle dâIA") == "Le modèle d’IA"
    assert repair_text("Les modĂšles dâIA gĂ©nĂ©rative") == "Les modèles d’IA générative"


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("drop_c1", [False, True], ids=["c1-kept", "c1-dropped"])
def test_constructed_mojibake_is_restored(codec: str, drop_c1: bool) -> None:
    for sentence in FRENCH:
        broken = mojibake(sentence, codec, drop_c1=drop_c1)
        assert broken != sentence
        assert repair_text(broken) == sentence, (codec, broken)


@pytest.mark.parametrize("codec", CODECS)
def test_whole_paragraph_mojibake(codec: str) -> None:
    paragraph = "\n".join(FRENCH)
    for drop_c1 in (False, True):
        assert repair_text(mojibake(paragraph, codec, drop_c1=drop_c1)) == paragraph


def test_lost_dash_is_read_as_en_dash() -> None:
    # "–" (E2 80 93) and "—" (E2 80 94) both shrink to a lone "â" once C1 bytes are dropped;
    # the repair cannot tell them apart and writes the en dash.
    broken = mojibake("évaluée — c’est dit", "latin-1", drop_c1=True)
    assert repair_text(broken) == "évaluée – c’est dit"


def test_classic_cp1252_mojibake_via_ftfy_path() -> None:
    assert repair_text("Berichte Ã¼ber die schÃ¶nste StraÃŸe") == "Berichte über die schönste Straße"
    assert repair_text("dâ€™un Ã©tÃ© â€œchaudâ€\x9d") == "d’un été “chaud”"


def test_only_the_damaged_line_changes() -> None:
    clean = "Le château de l’âge d’or, à Noël : âme, pâte, tâche, grâce."
    broken = mojibake("Réforme : l’État a dit « non »", "latin-1", drop_c1=True)
    assert repair_text(f"{clean}\n{broken}") == f"{clean}\nRéforme : l’État a dit « non »"


@pytest.mark.parametrize(
    "clean",
    [
        "Le château, l’âge, la pâte, la tâche, le théâtre, lâcher, mâle, câble, grâce à Dieu.",
        "Moliets-et-Mâa dans les Landes ; Bâle en Suisse ; Ă Rumania, Ć, Ĺ.",
        "SÃO PAULO, Âge d’or, MÂCON, Ärger, Åland.",
        "naïve, Noël, cœur, œuvre, Œdipe, « guillemets », 5 €, 30 °C, ½ litre, ™",
        "Straße, Größe, São Paulo, Ångström, Dvořák, Łódź, Ærø",
        "plain ASCII text only",
        "",
    ],
)
def test_correct_text_is_left_alone(clean: str) -> None:
    assert repair_text(clean) == clean


def test_repair_is_idempotent() -> None:
    for sentence in FRENCH:
        once = repair_text(mojibake(sentence, "iso8859-16", drop_c1=True))
        assert repair_text(once) == once


@needs_corpus
def test_corpus_french_pages_are_never_damaged() -> None:
    for meta_path in sorted(CORPUS.glob("fr*/meta.json")):
        html = decode_html((meta_path.parent / "source.html").read_bytes(), None)
        assert repair_text(html) == html, meta_path.parent.name


@needs_corpus
def test_corpus_real_mojibake_pages_are_repaired() -> None:
    de = repair_text(decode_html((CORPUS / "tricky03-mojibake-utf8-as-cp1252-de" / "source.html").read_bytes(), None))
    assert "Berichte über" in de and "schönste" in de and "Straßen" in de
    assert "Ã" not in de
    derived = CORPUS / "tricky11-DERIVED-mojibake-fr-orangesum-retraites" / "source.html"
    original = CORPUS / "fr27-orangesum-retraites-non-grevistes" / "source.html"
    assert repair_text(decode_html(derived.read_bytes(), None)) == decode_html(original.read_bytes(), None)


ORANGESUM = CORPUS / "_datasets" / "orangesum-test" / "abstracts" / "source_documents.txt"


@pytest.mark.skipif(not ORANGESUM.exists(), reason=f"OrangeSum test set not found at {ORANGESUM}")
def test_orangesum_clean_untouched_and_mojibake_restored() -> None:
    docs = ORANGESUM.read_text(encoding="utf-8").splitlines()
    damaged = [i for i, doc in enumerate(docs) if repair_text(doc) != doc]
    assert damaged == [], f"clean French documents changed by repair_text: {damaged[:10]}"
    sample = docs[:60]
    shares = {}
    for codec in CODECS:
        for drop_c1 in (False, True):
            restored = total = 0.0
            for doc in sample:
                n = len(doc.split())
                restored += n * word_share(doc, repair_text(mojibake(doc, codec, drop_c1=drop_c1)))
                total += n
            shares[f"{codec}{'-dropC1' if drop_c1 else ''}"] = restored / total
    # Measured: 100 % with C1 bytes kept, >= 99.98 % with them dropped (lost capitals such as
    # "Ô" or "Ü" are guessed as "É"); the floor leaves room for other samples.
    assert min(shares.values()) >= 0.999, shares


# --- lost characters -------------------------------------------------------------------------------------


def test_restore_accents_guesses_french_words() -> None:
    lost = "L'\ufffdtat, tr\ufffds \ufffd Paris, o\ufffd la gr\ufffdve g\ufffdn\ufffdrale de d\ufffdcembre"
    assert restore_accents(lost) == "L'état, très à Paris, où la grève générale de décembre"
    assert restore_accents("DERNI\ufffdRE R\ufffdACTION, Fran\ufffdois") == "DERNIÈRE RÉACTION, François"
    assert restore_accents("rien à faire") == "rien à faire"
