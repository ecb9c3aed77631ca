"""Article extraction (bot.pipeline.extract) on constructed documents and on the saved-page corpus."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.core.types import Article, FetchedDocument
from bot.errors import NoArticle
from bot.pipeline import extract as extract_module
from bot.pipeline.extract import _pdf_paragraphs, detect_language, extract

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("AGORA_CORPUS", REPO.parent / "shared" / "corpus"))
needs_corpus = pytest.mark.skipif(
    not (CORPUS / "index.json").exists(), reason=f"test corpus not found at {CORPUS} (set AGORA_CORPUS)"
)
CONTENT_TYPES = {".html": "text/html", ".pdf": "application/pdf", ".jpg": "image/jpeg"}
WORD_RE = re.compile(r"\w+")

PARAGRAPH = (
    "Le gouvernement a présenté mercredi un projet de réforme des retraites très contesté. Les syndicats "
    "dénoncent une régression sociale et appellent à la grève générale dès la semaine prochaine, à Paris "
    "comme dans toutes les régions. Selon un sondage publié dimanche, une majorité de Français soutient "
    "le mouvement, tandis que le Premier ministre assure que le texte sera voté avant l'été."
)


@dataclass(frozen=True, slots=True)
class Page:
    name: str
    meta: dict[str, Any]
    doc: FetchedDocument


def html_doc(body: str, *, url: str = "https://www.exemple.fr/article/1", ctype: str = "text/html") -> FetchedDocument:
    return FetchedDocument(url, url, ctype, None, body.encode())


def load_page(folder: Path, header_charset: str | None = None) -> Page:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    source = folder / str(meta["file"])
    url = str(meta.get("url") or "")
    if not url.startswith("http"):
        url = f"https://corpus.invalid/{folder.name}"
    ctype = str(meta.get("content_type") or CONTENT_TYPES[source.suffix])
    return Page(folder.name, meta, FetchedDocument(url, url, ctype, header_charset, source.read_bytes()))


def run(doc: FetchedDocument) -> Article | NoArticle:
    try:
        return extract(doc)
    except NoArticle as exc:
        return exc


@pytest.fixture(scope="module")
def corpus() -> dict[str, tuple[Page, Article | NoArticle]]:
    """Every corpus page, extracted once for all tests, keyed by its number ("fr01", "tricky06")."""
    if not (CORPUS / "index.json").exists():
        pytest.skip(f"test corpus not found at {CORPUS} (set AGORA_CORPUS)")
    pages = {}
    for folder in sorted(p.parent for p in CORPUS.glob("*/meta.json")):
        page = load_page(folder)
        pages[folder.name.split("-", 1)[0]] = (page, run(page.doc))
    return pages


def article(corpus: dict[str, tuple[Page, Article | NoArticle]], key: str) -> Article:
    result = corpus[key][1]
    assert isinstance(result, Article), f"{key}: {result!r}"
    return result


def norm(text: str) -> str:
    return " ".join(text.split())


def word_recall_precision(gold: str, got: str) -> tuple[float, float]:
    g, p = set(WORD_RE.findall(gold.lower())), set(WORD_RE.findall(got.lower()))
    return len(g & p) / max(1, len(g)), len(g & p) / max(1, len(p))


# --- constructed documents -------------------------------------------------------------------------------


def test_html_article_with_metadata_and_paragraphs() -> None:
    body = f"""<!doctype html><html lang="fr"><head><title>Retraites : la grève s'étend - Le Quotidien</title>
    <meta property="og:site_name" content="Le Quotidien"><meta name="author" content="Marie Dupont">
    <meta property="article:published_time" content="2019-12-10T08:00:00+01:00"></head>
    <body><nav>Accueil | Politique | Économie</nav><article><h1>Retraites : la grève s'étend</h1>
    <p>{PARAGRAPH}</p><p>{PARAGRAPH.replace("mercredi", "jeudi")}</p><p>À lire aussi : notre dossier</p>
    </article><footer>Mentions légales</footer></body></html>"""
    got = extract(html_doc(body))
    assert got.title == "Retraites : la grève s'étend"
    assert got.site == "Le Quotidien"
    assert got.author == "Marie Dupont"
    assert got.date == "2019-12-10"
    assert got.language == "fr"
    assert "\n\n" in got.text and "\n\n\n" not in got.text
    assert all(line == line.strip() for line in got.text.split("\n"))
    assert "jeudi" in got.text and "À lire aussi" not in got.text


def test_pages_are_read_one_at_a_time_whatever_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """trafilatura crashes the process now and then when run in several threads at once (issues #840,
    #925 upstream; once here): the bot extracts in worker threads, so HTML is read under a lock."""
    inside = 0
    most = 0
    guard = threading.Lock()
    real = extract_module._from_html

    def counting(*args: Any) -> Any:
        nonlocal inside, most
        with guard:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)  # long enough for the other threads to arrive, were they let in
        try:
            return real(*args)
        finally:
            with guard:
                inside -= 1

    monkeypatch.setattr(extract_module, "_from_html", counting)
    body = f"<html><body><article><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></article></body></html>"
    with ThreadPoolExecutor(max_workers=4) as pool:
        articles = list(pool.map(lambda _: extract(html_doc(body)), range(8)))
    assert most == 1
    assert len({a.text for a in articles}) == 1 and "gouvernement" in articles[0].text


def test_site_and_title_fall_back_to_host_and_first_line() -> None:
    body = f"<html><body><div><p>{PARAGRAPH}</p><p>{PARAGRAPH}</p></div></body></html>"
    got = extract(html_doc(body, url="https://www.blog-exemple.org/billet"))
    assert got.site == "blog-exemple.org"
    assert got.title.startswith("Le gouvernement a présenté")


def test_plain_text() -> None:
    body = f"Titre du communiqué\n\n{PARAGRAPH}\n\n{PARAGRAPH}".encode("cp1252")
    doc = FetchedDocument("https://exemple.fr/c.txt", "https://exemple.fr/c.txt", "text/plain", None, body)
    got = extract(doc)
    assert got.title == "Titre du communiqué"
    assert got.language == "fr" and "réforme" in got.text and got.site == "exemple.fr"


def test_mojibake_html_is_repaired_before_extraction() -> None:
    broken = re.sub("[\x80-\x9f]", "", PARAGRAPH.replace("'", "’").encode().decode("latin-1"))
    body = (
        f"<html><head><title>RĂ©forme</title></head>"
        f"<body><article><p>{broken}</p><p>{broken}</p></article></body></html>"
    )
    got = extract(html_doc(body))
    assert "présenté" in got.text and "l’été" in got.text and "Ã" not in got.text


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ("<html><head><title>Access denied</title></head><body><h1>403 Forbidden</h1></body></html>", True),
        ("<html><body><p>Connexion requise pour lire cet article. Veuillez vous connecter.</p></body></html>", True),
        ("<html><body><p>Please complete the captcha to continue.</p></body></html>", True),
        ("<html><body><p>Bienvenue sur notre site. Rien ici.</p></body></html>", False),
    ],
)
def test_short_pages_are_no_article_with_a_french_reason(body: str, refused: bool) -> None:
    with pytest.raises(NoArticle) as info:
        extract(html_doc(body))
    message = info.value.user_message
    assert ("refusé" in message) is refused
    assert "article" in message
    assert "too short" in info.value.detail


def test_min_words_is_respected() -> None:
    body = f"<html><body><article><p>{PARAGRAPH}</p></article></body></html>"
    assert extract(html_doc(body), min_words=10).word_count >= 60
    with pytest.raises(NoArticle):
        extract(html_doc(body), min_words=500)


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("text/html", b"\xff\xd8\xff\xe0\x00\x10JFIF" + b"\x00" * 64),  # a JPEG served as HTML
        ("video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64),
        ("application/zip", b"PK\x03\x04" + b"\x00" * 64),
        ("application/pdf", b"<html>not a pdf</html>"),
        ("application/pdf", b"%PDF-1.4 truncated garbage"),
    ],
)
def test_non_articles_are_refused(ctype: str, body: bytes) -> None:
    doc = FetchedDocument("https://exemple.fr/f", "https://exemple.fr/f", ctype, None, body)
    with pytest.raises(NoArticle) as info:
        extract(doc)
    assert info.value.user_message  # French, shown to the user


def test_pdf_paragraphs_rejoin_lines_and_hyphens() -> None:
    page = (
        "Le gouvernement a présenté mercredi un projet de ré-\n"
        "forme des retraites très contesté par les syndicats,\n"
        "qui appellent à la grève générale dès la semaine\n"
        "prochaine, dans toutes les régions du pays.\n"
        "Le haut-commissaire Jean-\n"
        "Paul Delevoye a présenté sa démission au président\n"
        "de la République, qui l'a acceptée sans tarder.\n"
        "\n"
        "Un nouveau paragraphe commence ici."
    )
    assert _pdf_paragraphs(page) == (
        "Le gouvernement a présenté mercredi un projet de réforme des retraites très contesté par les "
        "syndicats, qui appellent à la grève générale dès la semaine prochaine, dans toutes les régions du "
        "pays.\n\nLe haut-commissaire Jean-Paul Delevoye a présenté sa démission au président de la "
        "République, qui l'a acceptée sans tarder.\n\nUn nouveau paragraphe commence ici."
    )


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        (PARAGRAPH, "fr"),
        ("The government presented a pension reform on Wednesday and the unions are calling for a general strike "
         "across the country, which would be the largest in years.", "en"),
        ("Die Regierung hat am Mittwoch eine Rentenreform vorgestellt, und die Gewerkschaften rufen zu einem "
         "Generalstreik auf, der sich auf das ganze Land auswirken wird.", "de"),
        ("El gobierno presentó el miércoles una reforma de las pensiones y los sindicatos llaman a una huelga "
         "general en todo el país para la semana que viene.", "es"),
        ("Il governo ha presentato mercoledì una riforma delle pensioni e i sindacati chiamano a uno sciopero "
         "generale in tutto il paese per la prossima settimana.", "it"),
        ("조선중앙통신사는 오늘 새로운 소식을 전했다", "ko"),
        ("too short", None),
    ],
)  # fmt: skip
def test_detect_language(text: str, lang: str | None) -> None:
    assert detect_language(text) == lang


# --- corpus ----------------------------------------------------------------------------------------------


@needs_corpus
def test_french_pages_are_articles_in_french(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    wrong = []
    for page, result in corpus.values():
        if page.meta.get("language") != "fr":
            continue
        if not isinstance(result, Article) or result.language != "fr":
            wrong.append(f"{page.name}: {result!r}"[:200])
    assert not wrong, "\n".join(wrong)


@needs_corpus
def test_ground_truth_snippets(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    found = total = leaked = checked = 0
    missed: list[str] = []
    leaks: list[str] = []
    for key, (page, _result) in corpus.items():
        if not key.startswith("fr") or not page.meta.get("expected_snippets_with"):
            continue
        text = norm(article(corpus, key).text)
        for snippet in page.meta["expected_snippets_with"]:
            total += 1
            if norm(str(snippet)) in text:
                found += 1
            else:
                missed.append(f"{key}: {snippet!r}")
        for snippet in page.meta.get("expected_snippets_without") or []:
            checked += 1
            if norm(str(snippet)) in text:
                leaked += 1
                leaks.append(f"{key}: {snippet!r}")
    # Two misses are known (fr03 and fr05: trafilatura drops a linked sentence and a lead box).
    assert found / total >= 0.9, f"recall {found}/{total}; missed: {missed}"
    assert leaked / checked <= 0.10, f"leaked {leaked}/{checked}: {leaks}"


@needs_corpus
def test_orangesum_full_text_recall(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    scores = {}
    for key in ("fr25", "fr26", "fr27", "fr28", "fr29", "fr30"):
        page = corpus[key][0]
        scores[key] = word_recall_precision(str(page.meta["expected_full_text"]), article(corpus, key).text)
    assert all(recall >= 0.95 for recall, _ in scores.values()), scores


@needs_corpus
def test_reference_metadata(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    for key in ("fr21", "fr22", "fr23"):
        expected = corpus[key][0].meta["expected_metadata"]
        assert isinstance(expected, dict)
        got = article(corpus, key)
        assert norm(got.title) == norm(str(expected["title"]).replace("\xa0", " ")), key
        assert got.site and got.site.startswith(str(expected["siteName"])), key  # "Libération.fr"
    assert article(corpus, "fr21").author == "Martin Untersinger"
    assert article(corpus, "fr22").date == "2015-04-30"


@needs_corpus
def test_wayback_capture(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    got = article(corpus, "fr18")
    assert "Wayback" not in got.text and "archive.org" not in got.text
    assert got.site == "alternatives-economiques.fr"
    assert got.date is None or got.date.startswith("2007")
    assert "350 000 emplois créés" in norm(got.text)


@needs_corpus
def test_lost_accents_are_guessed(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    clean, lost = article(corpus, "tricky04"), article(corpus, "tricky05")
    assert "\ufffd" not in lost.text and "\ufffd" not in lost.title
    pairs = list(zip(clean.text.split(), lost.text.split(), strict=True))
    accented = [(a, b) for a, b in pairs if not a.isascii()]
    right = sum(a == b for a, b in accented)
    # Measured: 84 of 86 accented words ("arrête" comes out "arrète", a lost "…" as "é").
    assert right / len(accented) >= 0.95, [(a, b) for a, b in accented if a != b]


@needs_corpus
def test_utf16_portal_page(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    # The BOM is honoured (the meta says Shift-JIS), but the portal's body is images and links:
    # no readable article, so the user is told so rather than shown a summary of nothing.
    result = corpus["tricky06"][1]
    assert isinstance(result, NoArticle)
    assert "too short" in result.detail


@needs_corpus
def test_huge_page(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    page = corpus["tricky07"][0]
    got = article(corpus, "tricky07")
    recall, precision = word_recall_precision(str(page.meta["expected_full_text"]), got.text)
    assert recall >= 0.98 and precision >= 0.9, (recall, precision)
    assert got.language == "en" and got.author == "Joan Biskupic"


@needs_corpus
def test_forbidden_page_is_a_refusal(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    result = corpus["tricky08"][1]
    assert isinstance(result, NoArticle)
    assert "refusé" in result.user_message


@needs_corpus
def test_pdf(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    # The corpus gives no excerpt for this PDF; these lines are on its only page.
    got = article(corpus, "tricky09")
    assert got.title == "PDF Example Document"
    assert "Beautiful is better than ugly." in got.text
    assert "Namespaces are one honking great idea -- let's do more of those!" in got.text
    assert got.language == "en"


@needs_corpus
def test_image(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    page, result = corpus["tricky10"]
    assert isinstance(result, NoArticle)
    assert "image" in result.user_message
    mislabelled = FetchedDocument(page.doc.url, page.doc.final_url, "text/html", None, page.doc.body)
    with pytest.raises(NoArticle):
        extract(mislabelled)


@needs_corpus
def test_derived_mojibake_page_equals_its_original(corpus: dict[str, tuple[Page, Article | NoArticle]]) -> None:
    derived, original = article(corpus, "tricky11"), article(corpus, "fr27")
    assert norm(derived.text) == norm(original.text)
    assert derived.title == original.title
    assert "Réforme" in derived.title + derived.text
    assert "Ã" not in derived.text


@needs_corpus
@pytest.mark.parametrize(
    ("key", "header"),
    [("fr01", "iso-8859-1"), ("fr27", "windows-1251"), ("tricky04", "utf-8"), ("tricky02", "utf-8"),
     ("tricky06", "shift_jis"), ("tricky11", "iso-8859-1")],
)  # fmt: skip
def test_lying_header_charset(corpus: dict[str, tuple[Page, Article | NoArticle]], key: str, header: str) -> None:
    page, expected = corpus[key]
    lied = FetchedDocument(page.doc.url, page.doc.final_url, page.doc.content_type, header, page.doc.body)
    got = run(lied)
    if isinstance(expected, NoArticle):
        assert isinstance(got, NoArticle)
    else:
        assert got == expected
