"""Canonical links (the digest cache key) and link discovery in chat text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidURL
from bot.pipeline.urls import canonicalize, find_urls


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://WWW.Example.COM", "http://www.example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com?", "https://example.com/"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://Exämple.com/", "https://xn--exmple-cua.com/"),
        ("https://ＥＸＡＭＰＬＥ.com/", "https://example.com/"),
        ("https://ex%61mple.com./", "https://example.com/"),
        ("http://0x7f000001/", "http://127.0.0.1/"),
        ("http://127.1:80/", "http://127.0.0.1/"),
        ("http://[2001:DB8:0:0::1]:8080/", "http://[2001:db8::1]:8080/"),
        ("http://[::FFFF:7f00:1]/", "http://[::ffff:127.0.0.1]/"),
        ("http://@example.com/", "http://example.com/"),
        # percent-encoding: unreserved decoded, hex upper-cased, the rest encoded
        ("https://example.com/%7euser/%2fx", "https://example.com/~user/%2Fx"),
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        ("https://example.com/café déjà", "https://example.com/caf%C3%A9%20d%C3%A9j%C3%A0"),
        ("https://example.com/100%", "https://example.com/100%25"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/a/%2e%2e/b", "https://example.com/b"),
        ("https://example.com/../a", "https://example.com/a"),
        ("https://example.com/a/", "https://example.com/a/"),
        # tracking parameters
        (
            "https://www.lemonde.fr/a.html?utm_source=tw&utm_medium=social&xtor=RSS-3208&at_medium=x",
            "https://www.lemonde.fr/a.html",
        ),
        ("https://x.org/p?id=3&fbclid=IwAR0&page=2&gclid=1", "https://x.org/p?id=3&page=2"),
        ("https://x.org/p?UTM_Source=a&b=1&mc_cid=1&mc_eid=2&igshid=3", "https://x.org/p?b=1"),
        ("https://x.org/p?dclid=1&msclkid=2&yclid=3&_ga=4&ref_src=twsrc", "https://x.org/p"),
        ("https://x.org/p?utm%5Fsource=a&z=1", "https://x.org/p?z=1"),
        # kept parameters keep their order, their '+' and their '='
        ("https://x.org/s?q=a+b&lang=fr&empty=&flag", "https://x.org/s?q=a+b&lang=fr&empty=&flag"),
        ("https://x.org/s?b=2&a=1&&", "https://x.org/s?b=2&a=1"),
        ("https://x.org/s?q=%e9t%C3%a9&r=%zz", "https://x.org/s?q=%E9t%C3%A9&r=%25zz"),
        ("https://x.org/s?q=l'été", "https://x.org/s?q=l'%C3%A9t%C3%A9"),
    ],
)
def test_canonicalize(url: str, expected: str) -> None:
    assert canonicalize(url) == expected
    assert canonicalize(expected) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.com",
        "//example.com/a",
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://x",
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "http://",
        "http:///a",
        "https://user:pass@example.com/",
        "https://user@example.com/",
        "https://example.com:99999/",
        "https://example.com:port/",
        "http://[zz]/",
        "http://1.2.3.999/",
        "http://a..b/",
        "http://ex ample.com/",
        "http://ex%2Fample.com/",
        "http://☃☃.example/",
    ],
)
def test_canonicalize_refuses(url: str) -> None:
    with pytest.raises(InvalidURL):
        canonicalize(url)


_URL_ALPHABET = st.characters(codec="utf-8") | st.sampled_from(
    list("%/?#&=.:@[]+~-_!$'()*,;0123456789abcdefAF")
)


@given(st.text())
def test_canonicalize_on_any_text_is_idempotent_or_invalid(text: str) -> None:
    _assert_idempotent_or_invalid(text)


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "https://user@", "http://["]),
    st.sampled_from(["example.com", "Exämple.ORG", "127.1", "[::1]", "a.b", "", "x.y:8080", "0x10.1"]),
    st.text(_URL_ALPHABET, max_size=40),
)
def test_canonicalize_on_url_like_text_is_idempotent_or_invalid(prefix: str, host: str, rest: str) -> None:
    _assert_idempotent_or_invalid(prefix + host + rest)


def _assert_idempotent_or_invalid(text: str) -> None:
    try:
        once = canonicalize(text)
    except InvalidURL:
        return
    assert canonicalize(once) == once
    assert once.startswith(("http://", "https://"))


def test_find_urls_in_french_chat() -> None:
    text = (
        "Regardez https://www.lemonde.fr/article.html, c'est fou ! "
        "Et celui-ci (https://fr.wikipedia.org/wiki/Paris_(France)) ou <https://x.org/a>. "
        "Aussi [lien](https://y.org/b_(c)) et «https://z.fr/page» ; puis https://z.fr/q?x=1&y=2… "
        "Fin: https://a.org/b?c=d."
    )
    assert find_urls(text) == [
        "https://www.lemonde.fr/article.html",
        "https://fr.wikipedia.org/wiki/Paris_(France)",
        "https://x.org/a",
        "https://y.org/b_(c)",
        "https://z.fr/page",
        "https://z.fr/q?x=1&y=2",
        "https://a.org/b?c=d",
    ]


def test_find_urls_deduplicates_by_canonical_form_keeping_the_first() -> None:
    text = (
        "https://x.org/a?utm_source=tw HTTPS://X.ORG/a https://x.org/a#top "
        "https://x.org/b https://x.org/a?utm_medium=m"
    )
    assert find_urls(text) == ["https://x.org/a?utm_source=tw", "https://x.org/b"]


def test_find_urls_limit_and_ignored_text() -> None:
    text = "a https://a.com b http://b.com c https://c.com"
    assert find_urls(text, limit=2) == ["https://a.com", "http://b.com"]
    assert find_urls(text, limit=0) == []
    assert find_urls("pas de lien ici, juste www.example.com et ftp://x.org") == []
    assert find_urls("collé: xhttps://no.example https:// http://[oops") == []


def test_find_urls_markdown_and_spoilers() -> None:
    assert find_urls("**https://x.org/a** `https://y.org/b` ||https://z.org/c||") == [
        "https://x.org/a",
        "https://y.org/b",
        "https://z.org/c",
    ]
    assert find_urls("voir https://x.org/a)") == ["https://x.org/a"]
    assert find_urls("[https://x.org/a]") == ["https://x.org/a"]
    assert find_urls("https://x.org/a?b=[1]") == ["https://x.org/a?b=[1]"]


def test_find_urls_reports_unfetchable_links_for_the_pipeline_to_explain() -> None:
    # Credentials make the link unusable, but the user should be told why rather than ignored.
    assert find_urls("https://user:pw@x.org/a") == ["https://user:pw@x.org/a"]
