"""Fetched bytes to a readable article: HTML via trafilatura, PDF via pypdf, plain text as is.

Synchronous and CPU-bound: the caller runs `extract` in a worker thread, and HTML pages are read
one at a time (_HTML_LOCK).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import trafilatura
from pypdf import PdfReader
from pypdf.errors import PdfReadError, PyPdfError
from trafilatura.settings import Document

from bot.core.types import Article, FetchedDocument
from bot.errors import NoArticle
from bot.pipeline.decode import decode_html, decode_text, repair_text, restore_accents

# trafilatura's favor_precision, measured on the corpus (bench/RESULTS.md): it finds 52 of the 59
# French ground-truth snippets instead of 57 (it drops all of an Attac interview) to leak one
# boilerplate line fewer (1/60 instead of 2/60, the furniture filter below doing most of that work),
# for +0.004 F1 on the English benchmark. Recall matters more to a summary, so it stays off.
FAVOR_PRECISION = False

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_TEXT_TYPES = frozenset({"text/plain", "text/markdown", "text/x-markdown"})
_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})

# Magic numbers, checked whatever the Content-Type says (servers mislabel).
_IMAGE_MAGIC: tuple[bytes, ...] = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
_MEDIA_MAGIC: tuple[bytes, ...] = (b"ID3", b"OggS", b"fLaC", b"\x1aE\xdf\xa3", b"PK\x03\x04", b"\x1f\x8b")
_HTML_SNIFF_RE = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S)

_WAYBACK_TOOLBAR_RE = re.compile(r"<!-- BEGIN WAYBACK TOOLBAR INSERT -->.*?<!-- END WAYBACK TOOLBAR INSERT -->", re.S)
_WAYBACK_URL_RE = re.compile(r"^https?://web\.archive\.org/web/(\d{4})(\d{2})(\d{2})\d*[a-z_]*/(.+)$", re.I)
#: trafilatura (lxml's C code underneath) is not safe to run in several threads at once: concurrent
#: `trafilatura.extract` calls crash the process now and then with no Python traceback (SIGSEGV,
#: or glibc's "double free" / "munmap_chunk(): invalid pointer"; trafilatura issues #840, #925).
#: One such crash was seen here, three pages extracted at once in tests/jobs/test_crash.py. Reading
#: a page takes well under a second against a digest's minute, so pages are read one at a time.
_HTML_LOCK = threading.Lock()

_HTML_LANG_RE = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?([a-zA-Z]{2,3})\b""", re.I)

# Short lines that are page furniture rather than article: paywalls, "read also", credits, the
# Wayback banner. Matched against whole lines of at most _FURNITURE_MAX_WORDS words.
_FURNITURE_RE = re.compile(
    r"""^(?:
        pour\ (?:continuer\ à\ )?lire\ (?:la\ suite|cet\ article|l[’']article)
      | pour\ accéder\ (?:en\ illimité|à\ (?:la\ suite|cet\ article|l[’']article|l[’']intégralité))
      | (?:déjà|vous\ êtes)\ abonné | abonnez-vous | je\ m[’']abonne
      | créez\ votre\ compte | connectez-vous | offre\ découverte | [àa]\ lire\ (?:aussi|également)
      | lire\ aussi | (?:voir|à\ voir)\ aussi | crédits?\ photos?\b | photo\ ?: | newsletter
      | the\ wayback\ machine | wayback\ machine | (?:file\ )?archived\ on\ | sign\ up\ for\ | subscribe\ to
      | read\ more\b | related\ articles?\b | advertisement$ | publicité$
    )""",
    re.I | re.X,
)
_FURNITURE_MAX_WORDS = 16
_REFUSAL_RE = re.compile(
    r"forbidden|access\ denied|accès\ refusé|\b40[13]\b|captcha|not\ authori[sz]ed|unauthori[sz]ed"
    r"|connexion\ requise|veuillez\ vous\ connecter|are\ you\ a\ robot|êtes-vous\ un\ robot"
    r"|attention\ required|just\ a\ moment|enable\ javascript|request\ blocked|bot\ protection",
    re.I | re.X,
)
_TOO_SHORT_MESSAGE = (
    "La page ne contient pas d'article lisible (texte trop court : page d'erreur, de connexion ou image ?)."
)
_REFUSED_MESSAGE = (
    "Le site a refusé de montrer la page (erreur d'accès, vérification anti-robot ou connexion "
    "requise) : il n'y a pas d'article à résumer."
)

# Stopwords for a cheap language guess; frequent function words only, so a few hundred words decide.
_STOPWORDS: dict[str, frozenset[str]] = {
    "fr": frozenset(
        "le la les des du de un une et est sont dans pour que qui sur avec pas par plus au aux ce cette "
        "ces il elle ils nous vous ont été mais ou où leur se sa son ses était comme aussi".split()
    ),
    "en": frozenset(
        "the and of to in is are was were that this with for on as by it be at from have has had not "
        "but or which they their will would been an".split()
    ),
    "de": frozenset(
        "der die das und ist sind ein eine einen nicht mit von zu den dem auf für sich auch es im "
        "wird werden wurde oder aber nach bei".split()
    ),
    "es": frozenset(
        "el la los las y es son en un una que por con para del al se su sus no lo como más pero fue "
        "ha este esta".split()
    ),
    "it": frozenset(
        "il lo la gli le e è sono di da in un una che per con del della non si al alla come anche "
        "più ma questo questa".split()
    ),
    "pt": frozenset(
        "o a os as e é são de do da dos das em um uma que para com não se por mais como mas foi "
        "ao na no pelo pela".split()
    ),
    "nl": frozenset(
        "de het een en is zijn van in op te dat die niet met voor aan er ook als maar om door werd wordt bij".split()
    ),
}
_MIN_LANG_WORDS = 8
_WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_TITLE_MAX = 200
_CJK_RE = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True, slots=True)
class _Meta:
    """Metadata gathered before the common post-processing."""

    title: str | None = None
    site: str | None = None
    author: str | None = None
    date: str | None = None
    language: str | None = None  # a hint (HTML lang attribute), not the final answer


def extract(doc: FetchedDocument, *, min_words: int = 60, favor_precision: bool = FAVOR_PRECISION) -> Article:
    """The readable article in `doc`, or NoArticle with a French reason."""
    kind = _kind(doc)
    if kind == "pdf":
        text, meta = _from_pdf(doc.body)
    elif kind == "text":
        text, meta = _from_text(doc.body, doc.charset)
    else:
        with _HTML_LOCK:
            text, meta = _from_html(doc.body, doc.charset, doc.final_url or doc.url, favor_precision)
    text = _clean_text(text)
    title = _clean_line(repair_text(meta.title or ""))
    language = detect_language(text) or meta.language
    if language == "fr" and "\ufffd" in text + title:
        text, title = restore_accents(text), restore_accents(title)
    words = _word_count(text)
    if words < max(min_words, 1):  # an empty "article" is never worth a digest
        refused = _REFUSAL_RE.search(f"{title}\n{text}") is not None
        raise NoArticle(
            f"too short: {words} words < {min_words}" + (" (looks like a refusal page)" if refused else ""),
            user_message=_REFUSED_MESSAGE if refused else _TOO_SHORT_MESSAGE,
        )
    host = _display_host(_unwrap_wayback(doc.final_url or doc.url)[0])
    if not title:
        title = _first_line(text) or host or doc.final_url
    return Article(
        url=doc.url,
        final_url=doc.final_url,
        title=title,
        text=text,
        site=meta.site or host,
        author=meta.author,
        date=meta.date,
        language=language,
    )


# --- kinds ----------------------------------------------------------------------------------------------


def _kind(doc: FetchedDocument) -> str:
    """Which extractor reads `doc` (html, pdf or text); NoArticle for images, media and other binaries."""
    body = doc.body
    ctype = doc.content_type.split(";", 1)[0].strip().lower()
    if body.startswith(b"%PDF-"):
        return "pdf"
    if body.startswith(_IMAGE_MAGIC) or (body[:4] == b"RIFF" and body[8:12] == b"WEBP"):
        raise NoArticle(
            f"image body ({ctype or 'no type'})",
            user_message="Ce lien mène à une image, pas à un article : il n'y a pas de texte à résumer.",
        )
    if ctype.startswith(("image/", "audio/", "video/", "font/")) or body.startswith(_MEDIA_MAGIC):
        raise NoArticle(
            f"binary body ({ctype or 'no type'})",
            user_message="Ce lien mène à un fichier (image, son, vidéo ou archive), pas à un article.",
        )
    if ctype in _PDF_TYPES:
        raise NoArticle("PDF type without PDF bytes", user_message="Ce PDF est illisible ou incomplet.")
    if ctype in _HTML_TYPES or _HTML_SNIFF_RE.match(body[:2048]):
        return "html"
    if ctype in _TEXT_TYPES or ctype.startswith("text/"):
        return "text"
    if b"\x00" not in body[:4096] and ctype in ("", "application/octet-stream", "application/xml"):
        return "text"
    raise NoArticle(
        f"unsupported content type {ctype!r}",
        user_message="Ce type de contenu n'est pas un article lisible (seulement pages web, PDF et texte).",
    )


# --- HTML ------------------------------------------------------------------------------------------------


def _from_html(body: bytes, charset: str | None, url: str, favor_precision: bool) -> tuple[str, _Meta]:
    html = repair_text(decode_html(body, charset))
    html = _WAYBACK_TOOLBAR_RE.sub("", html)
    original_url, capture_date = _unwrap_wayback(url)
    found = trafilatura.bare_extraction(
        html,
        url=original_url,
        include_comments=False,
        include_tables=True,
        favor_precision=favor_precision,
        with_metadata=True,
    )
    result = found if isinstance(found, Document) else None  # a dict only with as_dict=True
    text = (result.text or "") if result is not None else ""
    if not text.strip():
        # trafilatura's last resort: embedded JSON, <article>, paragraphs, then the whole body.
        _tree, text, _length = trafilatura.baseline(html)
    lang_match = _HTML_LANG_RE.search(html[:20_000])
    if result is None:
        return text, _Meta(language=lang_match.group(1).lower() if lang_match else None)
    site = _clean_site(result.sitename)
    date = result.date
    if capture_date and date and (date > capture_date or date.endswith("-01-01")):
        # A page cannot postdate its capture, and "YYYY-01-01" is a year guessed from a
        # copyright line; the capture date itself is no publication date either.
        date = None
    return text, _Meta(
        title=_strip_site_suffix(result.title or "", site),
        site=site,
        author=_clean_author(result.author, site or _display_host(original_url)),
        date=date,
        language=lang_match.group(1).lower() if lang_match else None,
    )


def _unwrap_wayback(url: str) -> tuple[str, str | None]:
    """The archived URL and capture date (YYYY-MM-DD) of a Wayback Machine link, else (url, None)."""
    match = _WAYBACK_URL_RE.match(url)
    if not match:
        return url, None
    year, month, day, original = match.groups()
    if not original.startswith(("http://", "https://")):
        original = "http://" + original
    return original, f"{year}-{month}-{day}"


def _clean_site(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip()
    if name.startswith(("http://", "https://")):
        return _display_host(name)
    return name or None


def _strip_site_suffix(title: str, site: str | None) -> str:
    """Drop a trailing " - Site" or " | Site" from a title when the tail names the site."""
    title = _clean_line(title)
    if not site:
        return title
    key = _name_key(site)
    for sep in (" - ", " | ", " – ", " — ", " :: "):
        if title.endswith(sep + site) and len(title) > len(sep + site):
            return title[: -len(sep + site)].strip()
        head, found, tail = title.rpartition(sep)
        tail_key = _name_key(tail)
        # The tail may name only part of the site ("Gala" for "Gala.fr"), never more than it:
        # "Le monde d'après" is no suffix to strip for the site "Le Monde".
        if found and head and key and (tail_key == key or (len(tail_key) >= 4 and tail_key in key)):
            return head.strip()
    return title


def _name_key(name: str) -> str:
    """Comparable form of a site or author name: "Gala.fr", "www.gala.fr" and "GALA" agree."""
    name = re.sub(r"[\W_]+", "", name.lower().removeprefix("www."))
    return re.sub(r"(?:fr|com|org|net|ch|be|ca|eu|info)$", "", name) or name


def _clean_author(author: str | None, site: str | None) -> str | None:
    if not author:
        return None
    author = re.sub(r"^(?:par|by)\s+", "", author.strip(), flags=re.I)
    if site and _name_key(author) == _name_key(site):
        return None  # the publisher's name in the byline field says nothing about who wrote it
    return author or None


# --- PDF -------------------------------------------------------------------------------------------------


def _from_pdf(body: bytes) -> tuple[str, _Meta]:
    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted and not reader.decrypt(""):
            raise NoArticle("encrypted PDF", user_message="Ce PDF est protégé par un mot de passe.")
        pages = [page.extract_text(extraction_mode="plain") or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, PyPdfError, ValueError, KeyError) as exc:
        raise NoArticle(f"unreadable PDF: {exc}", user_message="Ce PDF est illisible ou endommagé.") from exc
    text = "\n\n".join(_pdf_paragraphs(page) for page in pages)
    title = _pdf_info(info, "/Title")
    if title and re.search(r"(?i)^untitled|\.(?:docx?|pdf|odt|rtf|indd)$|^microsoft word", title):
        title = None  # authoring tools fill the field with the file name
    return text, _Meta(
        title=title or _first_line(text),
        author=_pdf_info(info, "/Author"),
        date=_pdf_date(_pdf_info(info, "/CreationDate")),
    )


def _pdf_info(info: object, key: str) -> str | None:
    try:
        value = info.get(key) if info is not None else None  # type: ignore[attr-defined]
    except (PdfReadError, PyPdfError, ValueError, KeyError):
        return None
    text = str(value).strip() if value is not None else ""
    return text or None


def _pdf_date(raw: str | None) -> str | None:
    match = re.match(r"^(?:D:)?(\d{4})(\d{2})(\d{2})", raw or "")
    return f"{match[1]}-{match[2]}-{match[3]}" if match else None


def _pdf_paragraphs(page: str) -> str:
    """Rejoin the visual lines of a PDF page into paragraphs, undoing end-of-line hyphenation."""
    lines = [line.strip() for line in page.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lengths = sorted(len(line) for line in lines if line)
    if not lengths:
        return ""
    full = lengths[int(len(lengths) * 0.75)]  # a typical full line
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if not line:
            paragraphs.append(current)
            current = ""
            continue
        if current.endswith(("-", "\xad")) and len(current) > 1 and current[-2].isalpha():
            # "ré-" + "forme" is one word; "Jean-" + "Paul" keeps its hyphen.
            current = current[:-1] + line if line[0].islower() else current.rstrip("\xad") + line
        else:
            current = f"{current} {line}" if current else line
        # A line that stops well short of the margin after a sentence ends its paragraph.
        if len(line) < 0.85 * full and line.endswith((".", "!", "?", ":", "»", '"', "”", ")")):
            paragraphs.append(current)
            current = ""
    paragraphs.append(current)
    return "\n\n".join(p for p in paragraphs if p)


# --- plain text ------------------------------------------------------------------------------------------


def _from_text(body: bytes, charset: str | None) -> tuple[str, _Meta]:
    text = repair_text(decode_text(body, charset))
    return text, _Meta(title=_first_line(text))


# --- text clean-up ---------------------------------------------------------------------------------------


def _clean_text(text: str) -> str:
    """One paragraph per block, blank lines between, no page furniture, no exotic spaces."""
    text = repair_text(text)  # mojibake that hid behind HTML entities only shows now
    text = _PRIVATE_USE_RE.sub("", text.translate(_SPACE_TABLE))
    paragraphs: list[str] = []
    for raw in text.split("\n"):
        line = _clean_line(raw)
        if line.startswith("|"):
            line = _clean_table_row(line)
        if not line or _is_furniture(line):
            continue
        paragraphs.append(line)
    return "\n\n".join(_dedupe_adjacent(paragraphs))


# No-break and thin spaces become plain spaces; zero-width characters and soft hyphens go.
_SPACE_TABLE = str.maketrans(
    {
        "\xa0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ", "\u2002": " ", "\u2003": " ",
        "\t": " ", "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
        "\xad": None,
    }
)  # fmt: skip
# Private-use characters are icon-font glyphs (PDF flags, web icons): nothing a reader can read.
_PRIVATE_USE_RE = re.compile("[\ue000-\uf8ff\U000f0000-\U0010ffff]")


def _clean_line(line: str) -> str:
    return " ".join(line.translate(_SPACE_TABLE).split())


def _clean_table_row(line: str) -> str:
    """A table row without its empty cells; a layout table's lone cell becomes plain text."""
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    cells = [cell for cell in cells if cell]
    if len(cells) <= 1:
        return cells[0] if cells else ""  # old sites lay whole articles out in tables
    return "| " + " | ".join(cells) + " |"


def _is_furniture(line: str) -> bool:
    return len(line.split()) <= _FURNITURE_MAX_WORDS and _FURNITURE_RE.match(line) is not None


def _dedupe_adjacent(paragraphs: Iterable[str]) -> list[str]:
    out: list[str] = []
    for p in paragraphs:
        if not out or out[-1] != p:
            out.append(p)
    return out


def _word_count(text: str) -> int:
    """Words, counting Chinese and Japanese script (written without spaces) as two characters a word."""
    return len(text.split()) + len(_CJK_RE.findall(text)) // 2


def _first_line(text: str) -> str | None:
    for line in text.split("\n"):
        line = _clean_line(line)
        if line:
            return line if len(line) <= _TITLE_MAX else line[: _TITLE_MAX - 1].rstrip() + "…"
    return None


def _display_host(url: str) -> str | None:
    host = urlsplit(url).hostname if url else None
    return host.removeprefix("www.") if host else None


# --- language --------------------------------------------------------------------------------------------


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of `text` by script and stopwords (fr, en, de, es, it, pt, nl, ja, ko, zh), or None."""
    sample = text[:20_000]
    letters = [ch for ch in sample if ch.isalpha()]
    if letters:
        hangul = sum(1 for ch in letters if "\uac00" <= ch <= "\ud7af" or "\u1100" <= ch <= "\u11ff")
        kana = sum(1 for ch in letters if "\u3040" <= ch <= "\u30ff")
        han = sum(1 for ch in letters if "\u4e00" <= ch <= "\u9fff")
        if hangul + kana + han > 0.3 * len(letters):
            if hangul >= max(kana, han * 0.2):
                return "ko"
            return "ja" if kana else "zh"
    words = [w.lower() for w in _WORD_RE.findall(sample)]
    if len(words) < _MIN_LANG_WORDS:
        return None
    scores = {lang: sum(1 for w in words if w in stop) for lang, stop in _STOPWORDS.items()}
    best = max(scores, key=lambda lang: scores[lang])
    # Function words make up a third of running text; under 5 % it is no language we know.
    return best if scores[best] >= 0.05 * len(words) else None
