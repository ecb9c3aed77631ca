"""Bytes to text for fetched documents, and repair of text that went through the wrong codec."""

from __future__ import annotations

import bisect
import codecs
import re
from dataclasses import dataclass

import charset_normalizer
import ftfy
from ftfy.badness import badness as _ftfy_badness

# --- decoding ------------------------------------------------------------------------------------------

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Browsers (WHATWG Encoding) read these labels as a superset codec; servers mean the superset.
_SUPERSETS: dict[str, str] = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "tis-620": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
}
# Labels Python's codec registry does not know.
_LABELS: dict[str, str] = {
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "x-euc-jp": "euc_jp",
    "ks_c_5601-1987": "cp949",
    "x-mac-roman": "mac_roman",
    "unicode": "utf-16",
}
_PRESCAN_BYTES = 4096
_META_CHARSET_RE = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-z0-9_.:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([a-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_WIDE = ("utf-16", "utf-32")
_LATIN_SINGLE_BYTE = frozenset(
    {"cp1250", "cp1252", "cp1254", "cp1257", "latin-1", "iso8859-1", "iso8859-2", "iso8859-3",
     "iso8859-4", "iso8859-9", "iso8859-10", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16",
     "mac-roman", "mac-latin2", "cp850", "cp437"}
)  # fmt: skip
# A UTF-8 body may hold a few stray legacy bytes (a pasted latin-1 snippet); beyond this share it is not UTF-8.
_MAX_STRAY_SHARE = 0.02
_STRAY_RE = re.compile("[\udc80-\udcff]")  # undecodable bytes, as "surrogateescape" keeps them
# cp1252 leaves five bytes undefined; browsers map them to the C1 controls of the same value.
_CP1252_C1: dict[int, str] = {b: bytes([b]).decode("cp1252", "replace") for b in range(0x80, 0xA0)}
_CP1252_TABLE = str.maketrans({chr(b): (c if c != "\ufffd" else chr(b)) for b, c in _CP1252_C1.items()})


def decode_html(body: bytes, header_charset: str | None) -> str:
    """Decode an HTML body: BOM, then HTTP charset, then <meta>/XML declaration, then detection."""
    return _decode(body, header_charset, sniff_meta=True)


def decode_text(body: bytes, header_charset: str | None) -> str:
    """Decode a text/plain body: BOM, then HTTP charset, then detection."""
    return _decode(body, header_charset, sniff_meta=False)


def _decode(body: bytes, header_charset: str | None, *, sniff_meta: bool) -> str:
    for bom, codec in _BOMS:
        if body.startswith(bom):
            # The BOM is the one thing that cannot lie: a <meta> inside UTF-16 text was written
            # by someone who never looked at the bytes.
            return body[len(bom) :].decode(codec, "replace")
    # Markup is ASCII, so UTF-16 without a BOM shows as every other byte zero, which no 8-bit
    # page does, whatever its declaration says.
    wide = _sniff_utf16(body)
    if wide:
        return body.decode(wide, "replace")
    if body.isascii():
        return body.decode("ascii")
    # Valid multi-byte UTF-8 is almost never legitimate legacy text, so it beats any 8-bit
    # declaration (the classic case: a re-saved page that still declares ISO-8859-1), and so
    # does UTF-8 with a few stray legacy bytes (a pasted latin-1 snippet).
    text = _decode_mostly_utf8(body)
    if text is not None:
        return text
    declared = [_codec_name(header_charset)]
    if sniff_meta:
        declared.append(_meta_charset(body))
    candidates = [c for c in dict.fromkeys(declared) if c and c != "utf-8" and not c.startswith(_WIDE)]
    if len(candidates) > 1:
        # Header and <meta> disagree: the header usually wins, but servers send a default
        # charset for every page, so let the less chaotic reading decide.
        best = charset_normalizer.from_bytes(body, cp_isolation=candidates).best()
        preferred = _codec_name(best.encoding) if best is not None else None
        if preferred in candidates:
            candidates.remove(preferred)
            candidates.insert(0, preferred)
    for codec in candidates:
        if codec == "cp1252":
            return _decode_cp1252(body)
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return _detect(body)


def _decode_cp1252(body: bytes) -> str:
    """cp1252 as browsers read it: the five undefined bytes become C1 controls instead of errors."""
    return body.decode("latin-1").translate(_CP1252_TABLE)


def _codec_name(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _LABELS.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET_RE.search(body[:_PRESCAN_BYTES])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii", "replace")
    return _codec_name(label)


def _sniff_utf16(body: bytes) -> str | None:
    """UTF-16 without BOM: markup is ASCII, so every other byte is zero."""
    head = body[:512]
    if len(head) < 16:
        return None
    even_zeros = head[0::2].count(0)
    odd_zeros = head[1::2].count(0)
    half = len(head) // 2
    if odd_zeros > 0.7 * half and even_zeros < 0.1 * half:
        return "utf-16-le"
    if even_zeros > 0.7 * half and odd_zeros < 0.1 * half:
        return "utf-16-be"
    return None


def _decode_mostly_utf8(body: bytes) -> str | None:
    """UTF-8, with any stray legacy bytes read as cp1252; None when the body is not mostly UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", "surrogateescape")
    strays = len(_STRAY_RE.findall(text))
    valid = sum(1 for ch in text if ord(ch) > 0x7F) - strays
    if strays > _MAX_STRAY_SHARE * valid:
        return None
    return _STRAY_RE.sub(lambda m: _decode_cp1252(bytes([ord(m.group()) - 0xDC00])), text)


def _detect(body: bytes) -> str:
    matches = list(charset_normalizer.from_bytes(body))
    codec = _codec_name(matches[0].encoding) if matches else None
    if codec in _LATIN_SINGLE_BYTE:
        # Latin single-byte codecs differ only in which accented letter a byte is, and the
        # detector often ties them (French cp1252 reads as cp1250 "trčs"); cp1252 is what the
        # web and this bot's readers use, so it wins any near-tie.
        best_chaos = matches[0].chaos
        if any(_codec_name(m.encoding) == "cp1252" and m.chaos <= best_chaos + 0.05 for m in matches):
            codec = "cp1252"
    if codec and codec != "cp1252":
        try:
            return body.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    # cp1252 decodes every byte, and Western pages are the likely ones to lack a declaration.
    return _decode_cp1252(body)


# --- mojibake repair -----------------------------------------------------------------------------------
#
# Mojibake is UTF-8 whose bytes were read with a single-byte codec: "é" (C3 A9) shows as "Ã©"
# (cp1252) or "Ă©" (ISO-8859-16, -2, cp1250). When the codec maps 0x80-0x9F to C1 controls,
# those are often dropped on the way, so "è" survives as "Ăš" (C3 A8) but "’" (E2 80 99) leaves
# only "â". The repair maps characters back to bytes under each candidate codec, re-decodes the
# runs that form UTF-8 for a plausible character ("strong" tokens), and, once a text is shown to
# be mojibake, guesses the lost bytes from context ("weak" tokens: a lead byte whose continuation
# bytes were dropped).

# Candidate codecs; on equal evidence the earlier one wins.
_REPAIR_CODECS = ("cp1252", "iso8859-15", "latin-1", "iso8859-16", "cp1250", "iso8859-2")

# Characters a repaired token may produce, with a rough frequency in European (mostly French)
# text: the weight arbitrates between codecs that read the same bytes differently.
# fmt: off
_TARGET_WEIGHTS: dict[str, float] = {
    "é": 10, "è": 5, "à": 5, "ê": 3, "ç": 3, "ô": 2, "î": 2, "â": 2, "û": 1, "ù": 1, "ë": 1, "ï": 1,
    "ü": 2, "ö": 2, "ä": 2, "ß": 1, "á": 1, "í": 1, "ó": 1, "ú": 1, "ñ": 1, "ã": 1, "õ": 1,
    "É": 3, "À": 2, "È": 1, "Ê": 1, "Ç": 1, "Ô": 1, "Î": 1, "Ü": 1, "Ö": 1, "Ä": 1,
    "«": 3, "»": 3, "\xa0": 2, "°": 1, "œ": 2, "Œ": 1,
    "’": 8, "‘": 1, "“": 3, "”": 3, "„": 1, "–": 3, "—": 2, "…": 3, "•": 1, "€": 2, "™": 0.5,
    "\u202f": 2, "‹": 0.3, "›": 0.3, "‰": 0.3, "†": 0.1, "‡": 0.1, "−": 0.3,
    # Bullets and arrows that news sites put before links.
    "►": 0.5, "▶": 0.3, "■": 0.3, "▪": 0.3, "●": 0.3, "◆": 0.3, "★": 0.3, "✓": 0.3, "✔": 0.3,
    "→": 0.3, "←": 0.3, "↑": 0.1, "↓": 0.1,
}
# fmt: on
_DEFAULT_WEIGHT = 0.3
_TARGETS: frozenset[str] = frozenset([chr(c) for c in range(0xA0, 0x180) if chr(c) != "\xad"] + list(_TARGET_WEIGHTS))
# Lead bytes that open a 2- or 3-byte sequence for some target.
_LEAD2 = frozenset(t.encode()[0] for t in _TARGETS if len(t.encode()) == 2)
_LEAD3 = frozenset(t.encode()[0] for t in _TARGETS if len(t.encode()) == 3)
# A lone lead byte is only guessed for these (the others are too ambiguous to name).
_WEAK_LEADS = frozenset({0xC2, 0xC3, 0xC5, 0xE2})
# Accented letters that a mojibake line cannot contain as such (every one would be two characters).
_CLEAN_ACCENTS = frozenset("éèàùçêëïîôûüöäÉÈÀÙÇÊËÏÎÔÛÜ")
# Elided words whose apostrophe, lost, leaves "dâ" + vowel: no French word starts that way.
_ELIDED = frozenset({"d", "l", "m", "n", "j", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"})
_ELISION_NEXT = frozenset("aeiouyhéèêàâîôûAEIOUYHÉÈÊÀÂÎÔ")
_WORD_OPENERS = frozenset(" \t\n\r\xa0([{<>«\"'“")
_ILE_RE = re.compile(r"les?(?![^\W\d_])")
_NEWLINE_RE = re.compile("\n")
_SENTENCE_END = frozenset(".!?:;\n\r")
_OPENERS = frozenset("([{<>«\"'")


@dataclass(frozen=True, slots=True)
class _CodecTable:
    """How one single-byte codec turns UTF-8 bytes into characters, inverted."""

    name: str
    byte_of: dict[str, int]  # character -> byte, for bytes 0x80-0xFF
    token_re: re.Pattern[str]
    leads: frozenset[str]  # characters that read a lead byte (for the quick "anything to do?" test)
    lossy: dict[bytes, tuple[str, ...]]  # lead byte + surviving continuation bytes -> originals


def _build_table(name: str) -> _CodecTable:
    byte_of: dict[str, int] = {}
    dropped: set[int] = set()  # bytes shown as C1 controls, which copy-paste and cleaners lose
    for b in range(0x80, 0x100):
        try:
            ch = bytes([b]).decode(name)
        except UnicodeDecodeError:
            ch = chr(b)  # what browsers and ftfy's "sloppy" codecs show for an undefined byte
        if "\x80" <= ch <= "\x9f":
            dropped.add(b)
        byte_of.setdefault(ch, b)
    conts = "".join(re.escape(c) for c, b in byte_of.items() if 0x80 <= b <= 0xBF)
    lead2 = "".join(re.escape(c) for c, b in byte_of.items() if b in _LEAD2)
    lead3 = "".join(re.escape(c) for c, b in byte_of.items() if b in _LEAD3)
    token_re = re.compile(f"[{lead2}][{conts}]?|[{lead3}][{conts}]{{0,2}}")
    lossy: dict[bytes, list[str]] = {}
    for target in sorted(_TARGETS):
        raw = target.encode()
        kept = bytes([raw[0], *(x for x in raw[1:] if x not in dropped)])
        if len(kept) < len(raw):
            lossy.setdefault(kept, []).append(target)
    return _CodecTable(
        name=name,
        byte_of=byte_of,
        token_re=token_re,
        leads=frozenset(c for c, b in byte_of.items() if b in _LEAD2 | _LEAD3),
        lossy={k: tuple(sorted(v, key=_weight, reverse=True)) for k, v in lossy.items()},
    )


def _weight(ch: str) -> float:
    return _TARGET_WEIGHTS.get(ch, _DEFAULT_WEIGHT)


_TABLES: tuple[_CodecTable, ...] = tuple(_build_table(name) for name in _REPAIR_CODECS)
# A character that reads a UTF-8 lead byte followed by one that reads a continuation byte, in
# any of the codecs above or in the ones ftfy knows (Cyrillic "Ð¿", emoji "ðŸ"): the cheap test
# for "is there anything to repair".
_SUSPECT_RE = re.compile(
    "[{}ÐÑÎÏØÙ×ð][{}]".format(
        re.escape("".join(sorted(frozenset().union(*(t.leads for t in _TABLES))))),
        re.escape("".join(sorted({c for t in _TABLES for c, b in t.byte_of.items() if 0x80 <= b <= 0xBF}))),
    )
)
_ELISION_HINT_RE = re.compile(r"(?:[dlmnjstcDLMNJSTC]|[Qq]u)â[aeiouyhéèêàâîôûAEIOUYHÉÈÊÀÂÎÔ]")


@dataclass(frozen=True, slots=True)
class _Token:
    start: int
    end: int
    raw: bytes  # lead byte and the continuation bytes that survived
    strong: str | None  # the decoded character when the sequence is complete or unambiguous


def _tokens(text: str, table: _CodecTable) -> list[_Token]:
    found: list[_Token] = []
    for m in table.token_re.finditer(text):
        raw = bytes(table.byte_of[c] for c in m.group())
        need = 2 if raw[0] < 0xE0 else 3
        strong: str | None = None
        if len(raw) == need:
            try:
                ch = raw.decode("utf-8")
            except UnicodeDecodeError:
                ch = ""
            strong = ch if ch in _TARGETS else None
            if strong is None:
                continue
        else:
            candidates = table.lossy.get(raw, ())
            if not candidates:
                continue
            # With a continuation byte left the lead is no longer alone: "â¦" can only have been
            # "…", and "â¢" is "•" far more often than "™".
            if len(raw) > 1:
                strong = candidates[0]
            elif raw[0] not in _WEAK_LEADS:
                continue
            elif raw[0] == 0xE2 and _is_elision(text, m.start()):
                # "dâaction", "lâIA": French has no word "dâ"/"lâ" + vowel, so this was "’".
                strong = "’"
        found.append(_Token(m.start(), m.end(), raw, strong))
    return found


def _is_elision(text: str, index: int) -> bool:
    """Whether the "â" at `index` sits where French puts an elision apostrophe ("dâIA", "lâhomme")."""
    if index + 1 >= len(text) or text[index + 1] not in _ELISION_NEXT:
        return False
    start = index
    while start > 0 and text[start - 1].isalpha():
        start -= 1
    if start > 0 and text[start - 1] not in _WORD_OPENERS:
        return False  # "Moliets-et-Mâa" is a place name, not "M’a"
    word = text[start:index]
    return word.lower() in _ELIDED and (word.islower() or word[0].isupper())


def repair_text(text: str) -> str:
    """Undo mojibake (UTF-8 read as cp1252, latin-1, ISO-8859-16/-2, cp1250, C1 bytes lost or not)."""
    if text.isascii() or not (_SUSPECT_RE.search(text) or _ELISION_HINT_RE.search(text)):
        return text  # the common case, decided by one regex scan
    candidate = text
    # Twice, for text that was mis-decoded twice.
    for _ in range(2):
        repaired = _repair_once(candidate)
        if repaired == candidate:
            break
        candidate = repaired
    # Repairs never add or remove line breaks, so each line is judged on its own: a fix that
    # does not make its line less implausible is dropped, and ftfy sees only suspect lines.
    old_lines = text.split("\n")
    new_lines = candidate.split("\n")
    out: list[str] = []
    for old, new in zip(old_lines, new_lines, strict=True):
        if _SUSPECT_RE.search(new) and ftfy.is_bad(new):
            new = ftfy.fix_encoding(new)
        if new != old and new.count("\ufffd") <= old.count("\ufffd") and _badness(new) < _badness(old):
            out.append(new)
        else:
            out.append(old)
    return "\n".join(out)


def _badness(text: str) -> float:
    residual = max(sum(1 for t in _tokens(text, table) if t.strong) for table in _TABLES)
    return _ftfy_badness(text) + residual


def _repair_once(text: str) -> str:
    scored: list[tuple[float, int, int, _CodecTable, list[_Token]]] = []
    for rank, table in enumerate(_TABLES):
        toks = _tokens(text, table)
        weight = sum(_weight(t.strong) for t in toks if t.strong)
        # Lone lead bytes break ties: they tell an ISO-8859 reading (which drops C1 bytes) from
        # a cp1252 one that would have kept "â€™" whole.
        lone = sum(1 for t in toks if not t.strong)
        if weight:
            scored.append((weight, lone, -rank, table, toks))
    if not scored:
        return text
    *_, table, toks = max(scored, key=lambda s: s[:3])
    strong_total = sum(1 for t in toks if t.strong)
    breaks = [m.start() for m in _NEWLINE_RE.finditer(text)]
    lines = _mojibake_lines(text, toks, breaks, doc_confirmed=strong_total >= 2)
    out: list[str] = []
    pos = 0
    for tok in toks:
        if tok.strong is not None:
            repl: str | None = tok.strong
        elif bisect.bisect(breaks, tok.start) in lines:
            # The left neighbour as repaired so far: in "lâĂtat" the "Ă" follows "’", not "â".
            prev = (out[-1][-1:] or " ") if pos == tok.start and out else None
            repl = _guess_lost(text, tok, prev)
        else:
            repl = None
        if repl is None:
            continue
        out.append(text[pos : tok.start])
        out.append(repl)
        pos = tok.end
    out.append(text[pos:])
    return "".join(out)


def _mojibake_lines(text: str, toks: list[_Token], breaks: list[int], *, doc_confirmed: bool) -> set[int]:
    """Numbers of the lines (0-based; `breaks` holds the newline offsets) where lost bytes may be guessed.

    A line qualifies when it holds no correctly encoded accented letter (mojibake would have
    split each one in two) and either the line or the whole text shows complete mojibake tokens.
    """
    by_line: dict[int, list[_Token]] = {}
    for tok in toks:
        by_line.setdefault(bisect.bisect(breaks, tok.start), []).append(tok)
    allowed: set[int] = set()
    for number, line_toks in by_line.items():
        if not any(t.strong is None for t in line_toks):
            continue
        if not doc_confirmed and not any(t.strong for t in line_toks):
            continue
        start = breaks[number - 1] + 1 if number else 0
        end = breaks[number] if number < len(breaks) else len(text)
        if _CLEAN_ACCENTS.isdisjoint(text[start:end]):
            allowed.add(number)
    return allowed


def _guess_lost(text: str, tok: _Token, prev: str | None) -> str | None:
    """The original of a lead byte whose continuation bytes were dropped, judged by its neighbours."""
    if prev is None:
        prev = text[tok.start - 1] if tok.start > 0 else " "
    nxt = text[tok.end] if tok.end < len(text) else " "
    lead = tok.raw[0]
    if lead == 0xE2:  # General Punctuation: ’ “ ” – (E2 80 xx)
        if prev.isalpha() and nxt.isalpha():
            return "’"
        if prev.isdigit() and nxt.isdigit():
            return "–"
        prev_open = prev.isspace() or prev in _OPENERS
        if prev_open and (nxt.isspace() or nxt in ",;"):
            return "–"
        if prev_open:
            return "“"
        return "”"
    if lead == 0xC3:  # Latin-1 capitals and ß (C3 80-9F); "à" when its no-break space became a space
        after = text[tok.end + 1] if tok.end + 1 < len(text) else " "
        if not nxt.isalnum():  # the letter ends its word
            if prev.islower():
                return "à"  # déjà, voilà
            if prev.isupper():
                return "É"  # CAFÉ
            return "À" if prev in _OPENERS or _sentence_start(text, tok.start) else "à"
        if prev.islower() and nxt.islower():
            return "ß"  # Straße: only a capital or ß can lose its byte, and capitals start words
        if not prev.isalpha():
            if nxt == "a" and not after.isalpha():
                return "Ç"  # Ça
            if _ILE_RE.match(text, tok.end):
                return "Î"  # Île
        return "É"
    if lead == 0xC5:  # œ Œ (C5 92/93)
        return "Œ" if nxt.isupper() or (prev.isupper() and not nxt.islower()) else "œ"
    if lead == 0xC2 and nxt.isspace():
        return ""  # "Â" + no-break space turned into a plain space: only the space was meant
    return None


def _sentence_start(text: str, index: int) -> bool:
    i = index - 1
    while i >= 0 and text[i] in " \t\xa0":
        i -= 1
    return i < 0 or text[i] in _SENTENCE_END or text[i] == ">"


# --- lost characters (U+FFFD) ----------------------------------------------------------------------------

# French words whose accents a U+FFFD hides and the position rules below would get wrong
# (lower case; "_" stands for the lost letter).
# fmt: off
_FR_FFFD_WORDS: dict[str, str] = {
    w.replace("_", "\ufffd"): r
    for w, r in {
        "_tre": "être", "m_me": "même", "tr_s": "très", "apr_s": "après", "pr_s": "près",
        "aupr_s": "auprès", "d_s": "dès", "succ_s": "succès", "acc_s": "accès", "proc_s": "procès",
        "progr_s": "progrès", "exc_s": "excès", "d_c_s": "décès", "congr_s": "congrès", "o_": "où",
        "_a": "ça", "l_": "là", "d_j_": "déjà", "voil_": "voilà", "f_te": "fête", "t_te": "tête",
        "b_te": "bête", "for_t": "forêt", "int_r_t": "intérêt", "int_r_ts": "intérêts", "arr_t": "arrêt",
        "pr_t": "prêt", "pr_ts": "prêts", "enqu_te": "enquête", "enqu_tes": "enquêtes",
        "ch_mage": "chômage", "h_pital": "hôpital", "c_t_": "côté", "d_p_che": "dépêche",
        "d_p_ches": "dépêches", "ma_tre": "maître", "conna_tre": "connaître", "para_t": "paraît",
        "_le": "île", "co_t": "coût", "co_ts": "coûts", "co_te": "coûte", "ao_t": "août", "s_r": "sûr",
        "s_re": "sûre", "d_": "dû", "g_n_ral": "général", "th__tre": "théâtre", "_ge": "âge", "_me": "âme",
        "gr_ce": "grâce", "ch_teau": "château", "duba_": "dubaï", "na_f": "naïf", "ha_ti": "haïti",
        "no_l": "noël", "_uvre": "œuvre", "c_ur": "cœur", "s_ur": "sœur", "v_u": "vœu", "v_ux": "vœux",
        "fran_ais": "français", "fran_aise": "française", "fran_ois": "françois", "gar_on": "garçon",
        "le_on": "leçon", "fa_on": "façon", "re_u": "reçu", "re_ue": "reçue", "per_u": "perçu",
        "d__u": "déçu", "qu_bec": "québec", "probl_me": "problème", "syst_me": "système", "th_me": "thème",
        "pi_ce": "pièce",
    }.items()
}
# fmt: on
_FFFD_WORD_RE = re.compile(r"\w*\ufffd[\w\ufffd]*")
# Word endings after which a hidden letter is "è": grève, pièce, première, problème.
_GRAVE_TAIL_RE = re.compile(r"[bcdfghjklmnpqrstvz]{1,2}(?:e|es|ent)$")


def restore_accents(text: str) -> str:
    """Best guess for French letters lost as U+FFFD (a page re-saved as UTF-8 from the wrong codec)."""
    if "\ufffd" not in text:
        return text
    return _FFFD_WORD_RE.sub(lambda m: _restore_word(m.group()), text)


def _restore_word(word: str) -> str:
    if word == "\ufffd":
        return "à"
    letters = word.replace("\ufffd", "")
    # Guess on the lower-cased word, then give the guesses the case of the word around them.
    shout = len(letters) > 1 and letters.isupper()
    lower = word.lower()
    known = _FR_FFFD_WORDS.get(lower)
    if known:
        guess = known
    else:
        chars = list(lower)
        for i, ch in enumerate(chars):
            if ch != "\ufffd":
                continue
            prev = chars[i - 1] if i else ""
            tail = "".join(chars[i + 1 :])
            if prev in "nae" and tail[:1] in ("a", "o", "u") and i > 1:
                chars[i] = "ç"  # français, leçon, reçu
            elif prev.isalpha() and _GRAVE_TAIL_RE.match(tail):
                chars[i] = "è"  # grève, pièce, première
            else:
                chars[i] = "é"
        guess = "".join(chars)
    if shout:
        return guess.upper()
    # Keep the word's own letters; a lost first letter stays lower case (a capital would be a guess).
    return "".join(g if w == "\ufffd" else w for w, g in zip(word, guess, strict=True))
