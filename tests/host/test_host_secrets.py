"""Secrets are redacted before any cut, and found wherever a value would carry them."""

from __future__ import annotations

from toolkernel.host._secrets import REDACTED, clip, redact, secret_in

SECRETS = {"API_TOKEN": "s3cr3t-value-0042"}


def test_a_cut_through_a_secret_leaves_no_four_characters_of_it() -> None:
    secret = SECRETS["API_TOKEN"]
    pieces = {secret[i : i + 4] for i in range(len(secret) - 3)}
    text = "x" * 10 + secret + "y" * 10
    for limit in range(1, len(text)):
        for keep in ("head", "tail"):
            cut = clip(text, limit, SECRETS, keep=keep)
            assert not [piece for piece in pieces if piece in cut], (limit, keep, cut)


def test_a_text_that_arrived_cut_through_a_secret_is_redacted_at_its_edges() -> None:
    assert clip("-value-0042 and more", 100, SECRETS) == f"{REDACTED} and more"
    assert clip("ends with s3cr3t-va", 100, SECRETS) == f"ends with {REDACTED}"


def test_a_marker_the_cut_went_through_is_made_whole() -> None:
    assert clip("abc" + SECRETS["API_TOKEN"], 8, SECRETS) == f"abc{REDACTED}"


def test_secrets_are_found_in_nested_values_and_as_json_escapes() -> None:
    assert secret_in({"a": [{"b": SECRETS["API_TOKEN"]}]}, SECRETS) == "API_TOKEN"
    quoted = {"API_TOKEN": 'a"b'}
    assert secret_in({"k": 'a"b'}, quoted) == "API_TOKEN"
    assert secret_in({"k": "nothing"}, SECRETS) is None
    assert redact('{"t": "s3cr3t-value-0042"}', SECRETS) == '{"t": "[redacted]"}'
