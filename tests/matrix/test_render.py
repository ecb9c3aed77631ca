"""Matrix contents: plain body + escaped HTML, no pings, under the event size limit; event conversion."""

from __future__ import annotations

import json

from bot.core.types import Digest, Length, Part
from bot.pipeline.render import to_plain
from bot.platforms.matrix import render
from bot.platforms.matrix.convert import mentions, strip_reply_fallback, thread_root

URL = "https://exemple.fr/article?a=1&b=2"


def _digest(**overrides: str) -> Digest:
    parts = {p: f"Texte de la partie {p.name.lower()}." for p in Part}
    parts[Part.REFERENCE] = f"{URL} — Exemple Quotidien"
    for name, text in overrides.items():
        parts[Part[name.upper()]] = text
    return Digest(url=URL, final_url=URL, title="T", length=Length.STANDARD, parts=parts)


def test_digest_is_one_notice_with_headings_links_and_no_pings() -> None:
    digest = _digest(recap="Premier paragraphe.\n\nSecond paragraphe avec https://source.fr/x.")
    [content] = render.digest_notices(digest)
    assert content["msgtype"] == "m.notice" and content["m.mentions"] == {}
    assert content["body"] == to_plain(digest)
    html = content["formatted_body"]
    headings = [p.heading for p in Part if p.heading and p is not Part.REFERENCE]
    positions = [html.index(f"<h4>{h}</h4>") for h in headings]
    assert positions == sorted(positions)
    assert '<p><strong>Article en référence :</strong> <a href="https://exemple.fr/article?a=1&amp;b=2">' in html
    assert '<a href="https://source.fr/x">https://source.fr/x</a>.' in html  # the final dot is not in the link
    assert html.count("<h4>Récapitulatif factuel</h4>") == 1 and "<p>Second paragraphe" in html


def test_model_text_is_escaped_and_mentions_are_inert() -> None:
    digest = _digest(
        neutre='<script>alert("x")</script> & <b>gras</b> @room @alice:example.org',
        exemple="Voir https://matrix.to/#/@bob:example.org pour <i>plus</i>.",
    )
    [content] = render.digest_notices(digest)
    html = content["formatted_body"]
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>gras</b>" not in html and "&lt;b&gt;gras&lt;/b&gt;" in html and "&amp;" in html
    assert "@room" not in content["body"] and "@\u200broom" in content["body"]
    assert "@alice:example.org" not in html
    assert 'href="https://matrix.to' not in html  # never a pill
    assert content["m.mentions"] == {}


def test_a_16000_character_digest_is_split_in_order_under_the_size_limit() -> None:
    para = " ".join(f"Phrase numéro {i} de la partie, avec des accents éèà et un emoji 🚲." for i in range(40))
    long_text = "\n\n".join([para] * 2)
    digest = _digest(**{p.name.lower(): long_text for p in Part if p is not Part.REFERENCE})
    assert len(to_plain(digest)) > 16_000
    for encrypted in (False, True):
        contents = render.digest_notices(digest, encrypted=encrypted)
        assert len(contents) >= 2
        for content in contents:
            # Sent as an edit (content twice), encrypted or not, it stays under 64 KiB.
            edited = render.edit("$progress", content)
            assert render.encoded_size(edited, encrypted=encrypted) <= render.EVENT_LIMIT - render.ENVELOPE_MARGIN
            assert len(json.dumps(edited, ensure_ascii=False).encode()) < render.EVENT_LIMIT
        joined = "\n\n".join(c["body"] for c in contents)
        assert joined.split() == to_plain(digest).split()  # nothing lost, nothing reordered


def test_non_latin_text_gets_smaller_pieces_when_encrypted() -> None:
    text = "Αυτό είναι ένα πολύ μεγάλο κείμενο στα ελληνικά. " * 400
    digest = _digest(recap=text)
    plain = render.digest_notices(digest, encrypted=False)
    encrypted = render.digest_notices(digest, encrypted=True)
    assert len(encrypted) > len(plain)  # JSON escapes make each Greek letter 6 bytes before base64
    for content in encrypted:
        assert render.fits(content, encrypted=True)


def test_edit_and_relations() -> None:
    new = render.text_notice("**Agora** résume.")
    assert new["body"] == "Agora résume." and new["formatted_body"] == "<p><strong>Agora</strong> résume.</p>"
    edit = render.edit("$p", new)
    assert edit["m.new_content"] == new and edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$p"}
    assert edit["body"] == "* Agora résume." and edit["m.mentions"] == {}
    assert render.relation("$e", thread=True) == {
        "rel_type": "m.thread", "event_id": "$e", "is_falling_back": True, "m.in_reply_to": {"event_id": "$e"}
    }
    assert render.relation("$e", thread=False) == {"m.in_reply_to": {"event_id": "$e"}}
    # Already in a thread: stay in it, whatever the mode.
    in_thread = render.relation("$e", thread=False, thread_root="$root")
    assert in_thread["rel_type"] == "m.thread" and in_thread["event_id"] == "$root"
    assert in_thread["m.in_reply_to"] == {"event_id": "$e"} and in_thread["is_falling_back"] is False


def test_mentions_and_reply_fallbacks() -> None:
    me = "@agora:example.org"
    assert mentions({"body": "x", "m.mentions": {"user_ids": [me]}}, me, None)
    assert mentions({"body": "Agora: https://a.fr"}, me, "Agora")
    assert mentions({"body": "agora, https://a.fr"}, me, None)  # the localpart works too
    assert mentions({"body": f"hey {me} https://a.fr"}, me, None)
    assert mentions({"body": "x", "formatted_body": f'<a href="https://matrix.to/#/{me}">A</a>'}, me, None)
    assert not mentions({"body": "l'agora grecque: https://a.fr"}, me, "Agora")
    assert not mentions({"body": "> <@agora:example.org> ancien\n\nmerci"}, me, None)
    assert strip_reply_fallback("> <@a:b> cité\n> suite\n\n!aide") == "!aide"
    assert strip_reply_fallback("!aide") == "!aide"
    assert thread_root({"m.relates_to": {"rel_type": "m.thread", "event_id": "$r"}}) == "$r"
    assert thread_root({"m.relates_to": {"m.in_reply_to": {"event_id": "$r"}}}) is None
