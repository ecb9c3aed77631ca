"""EchoBackend: the deterministic, model-free backend used by pipeline tests."""

from __future__ import annotations

import time

import pytest

from bot.errors import ModelError
from bot.model.backend import Backend, GenerationParams, GenerationRequest, Message
from bot.model.echo_backend import ARTICLE_END, ARTICLE_START, EchoBackend

ARTICLE = (
    "Le conseil municipal a voté le budget. La piscine rouvrira en juin. "
    "Les tarifs augmentent de deux euros. L'opposition a voté contre. "
    "Le maire promet des travaux rapides. Les riverains restent sceptiques."
)
SYSTEM = Message("system", "Tu es un rédacteur.")
FIRST = Message(
    "user",
    f"Voici l'article.\n{ARTICLE_START}\n{ARTICLE}\n{ARTICLE_END}\n\nÉcris le récapitulatif. Sois bref.",
)
SECOND = Message("user", "Écris maintenant le point de vue neutre. Reste calme.")


def _request(*messages: Message, **kwargs: object) -> GenerationRequest:
    return GenerationRequest(messages=messages, **kwargs)  # type: ignore[arg-type]


def test_is_a_backend() -> None:
    backend: Backend = EchoBackend()
    assert backend.info.backend == "echo"


def test_answers_with_article_sentences_deterministically() -> None:
    backend = EchoBackend()
    request = _request(SYSTEM, FIRST)

    first = backend.generate([request])[0]
    second = EchoBackend().generate([request])[0]

    assert first == second
    assert first.text.startswith("Le conseil municipal a voté le budget.")
    assert "DÉBUT" not in first.text and "récapitulatif" not in first.text
    assert first.finish_reason == "stop"
    assert first.completion_tokens == len(first.text.split())


def test_later_turns_start_elsewhere_in_the_article() -> None:
    backend = EchoBackend()
    recap = backend.generate([_request(SYSTEM, FIRST)])[0]
    neutral = backend.generate([_request(SYSTEM, FIRST, Message("assistant", recap.text), SECOND)])[0]

    assert neutral.text != recap.text
    assert neutral.text.startswith("Les tarifs augmentent de deux euros.")


def test_each_new_instruction_starts_elsewhere_whatever_turns_the_conversation_keeps() -> None:
    backend = EchoBackend()
    recap = Message("assistant", backend.generate([_request(SYSTEM, FIRST)])[0].text)
    # Two parts asked after the same turns (the first left out of what the second continues).
    neutral = backend.generate([_request(SYSTEM, FIRST, recap, SECOND)])[0].text
    third = Message("user", "Écris maintenant le point de vue optimiste.")
    optimistic = backend.generate([_request(SYSTEM, FIRST, recap, third)])[0].text
    assert neutral.startswith("Les tarifs augmentent") and optimistic.startswith("Le maire promet")
    # The same instruction asked again (a retry) gets the same answer; another article starts over.
    assert backend.generate([_request(SYSTEM, FIRST, recap, SECOND)])[0].text == neutral
    other = Message("user", f"{ARTICLE_START}\nUn. Deux. Trois. Quatre.\n{ARTICLE_END}\nRésume.")
    assert backend.generate([_request(SYSTEM, other)])[0].text.startswith("Un.")


def test_a_first_turn_asked_again_with_advice_starts_elsewhere() -> None:
    """The recap's retry is its first turn again, advice added: the same article, another instruction."""
    backend = EchoBackend()
    recap = backend.generate([_request(SYSTEM, FIRST)])[0].text
    again = Message("user", FIRST.content + "\nTa réponse était trop courte.")
    retry = backend.generate([_request(SYSTEM, again)])[0].text
    assert recap.startswith("Le conseil municipal") and retry.startswith("Les tarifs augmentent")


def test_the_articles_whose_instructions_are_ranked_are_bounded() -> None:
    backend = EchoBackend()
    for i in range(100):
        backend.generate([_request(SYSTEM, Message("user", f"Article {i}."))])
    assert len(backend._ranks) == 64 and "Article 99." in backend._ranks


def test_echo_instruction_names_the_prompt() -> None:
    backend = EchoBackend(echo_instruction=True)

    first = backend.generate([_request(SYSTEM, FIRST)])[0]
    second = backend.generate([_request(SYSTEM, FIRST, Message("assistant", "x"), SECOND)])[0]

    assert first.text.startswith("Écris le récapitulatif. Le conseil")
    assert second.text.startswith("Écris maintenant le point de vue neutre. Les tarifs")


def test_max_new_tokens_truncates_with_length_reason() -> None:
    result = EchoBackend().generate([_request(FIRST, params=GenerationParams(max_new_tokens=5))])[0]

    assert result.text == "Le conseil municipal a voté"
    assert result.completion_tokens == 5
    assert result.finish_reason == "length"


def test_stop_strings_cut_at_the_earliest() -> None:
    params = GenerationParams(stop=("juin", "budget"))
    result = EchoBackend().generate([_request(FIRST, params=params)])[0]

    assert result.text == "Le conseil municipal a voté le "
    assert result.finish_reason == "stop"


def test_assistant_prefix_is_continued_not_repeated() -> None:
    backend = EchoBackend()
    plain = backend.generate([_request(FIRST)])[0]
    prefixed = backend.generate([_request(FIRST, assistant_prefix="Imaginez que")])[0]
    spaced = backend.generate([_request(FIRST, assistant_prefix="Imaginez que ")])[0]

    assert prefixed.text == " " + plain.text
    assert spaced.text == plain.text
    assert prefixed.prompt_tokens == plain.prompt_tokens + 2


def test_session_reports_reused_prompt() -> None:
    backend = EchoBackend()
    first = backend.generate([_request(SYSTEM, FIRST, session="d1")])[0]
    history = (SYSTEM, FIRST, Message("assistant", first.text), SECOND)
    second = backend.generate([_request(*history, session="d1")])[0]
    unrelated = backend.generate([_request(*history, session="d2")])[0]

    assert first.new_prompt_tokens == first.prompt_tokens
    assert second.new_prompt_tokens < second.prompt_tokens / 3
    assert unrelated.new_prompt_tokens == unrelated.prompt_tokens
    assert second.text == unrelated.text

    backend.end_session("d1")
    again = backend.generate([_request(*history, session="d1")])[0]
    assert again.new_prompt_tokens == again.prompt_tokens


def test_sessions_are_bounded() -> None:
    backend = EchoBackend(max_sessions=2)
    for name in ("a", "b", "c"):
        backend.generate([_request(FIRST, session=name)])

    assert backend.generate([_request(FIRST, session="a")])[0].new_prompt_tokens > 1  # evicted
    assert backend.generate([_request(FIRST, session="c")])[0].new_prompt_tokens == 1  # kept


def test_records_calls_and_batches() -> None:
    backend = EchoBackend()
    requests = [_request(FIRST), _request(SYSTEM, FIRST)]

    results = backend.generate(requests)

    assert len(results) == 2
    assert backend.calls == requests
    assert backend.batches == [2]


def test_delay_sleeps_per_request() -> None:
    backend = EchoBackend(delay=0.05)
    started = time.perf_counter()
    results = backend.generate([_request(FIRST), _request(FIRST)])

    assert time.perf_counter() - started >= 0.1
    assert all(r.decode_seconds >= 0.05 for r in results)


def test_count_tokens_and_close() -> None:
    backend = EchoBackend()
    assert backend.count_tokens("  deux   mots ") == 2
    assert backend.count_tokens("") == 0

    backend.close()
    with pytest.raises(ModelError):
        backend.generate([_request(FIRST)])


def test_message_without_markers_is_the_article() -> None:
    result = EchoBackend().generate([_request(Message("user", "Une phrase. Une autre !"))])[0]
    assert result.text == "Une phrase. Une autre !"


def test_no_user_message_gives_empty_text() -> None:
    result = EchoBackend().generate([_request(SYSTEM)])[0]
    assert result.text == ""
    assert result.completion_tokens == 0
