"""The one redactor: keys in text, credential headers, URLs."""

from __future__ import annotations

import pytest

from mscli.redact import Redactor, mask_key

KEY = "sk_live0123456789abcdefghijklmnopqa1b2"


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        (KEY, "sk_…a1b2"),
        ("sk-proj-abcdefghijklmnop9z9z", "sk-…9z9z"),
        ("abcdefghijklmnopqrst", "…qrst"),
        ("verylongprefix_abcdefghijkl", "…ijkl"),
        ("sk_short", "****"),
        ("", "****"),
        ("  " + KEY + "\n", "sk_…a1b2"),
    ],
)
def test_mask_key(key: str, masked: str) -> None:
    assert mask_key(key) == masked


def test_text_masks_known_secret_anywhere() -> None:
    secret = "not-key-shaped-secret-value-XYZ9"
    r = Redactor([secret, None, ""])
    out = r.text(f"server said: bad credential {secret}!")
    assert secret not in out
    assert "…XYZ9" in out


def test_text_masks_key_shaped_tokens() -> None:
    r = Redactor()
    out = r.text(f"Incorrect API key provided: {KEY}. Also sk-abcdefghijklmnopqrstuv.")
    assert KEY not in out
    assert "sk_…a1b2" in out
    assert "sk-abcdefghijklmnopqrstuv" not in out


def test_text_leaves_ordinary_words() -> None:
    r = Redactor()
    s = "task_manager_module and desk-reservation-system, disk_usage_report"
    assert r.text(s) == s


def test_text_masks_bearer_credentials() -> None:
    out = Redactor().text("Authorization: Bearer abcdefghijklmnop1234")
    assert "abcdefghijklmnop1234" not in out
    assert "Bearer …1234" in out


def test_short_secrets_not_searched() -> None:
    assert Redactor(["abc"]).text("abc abc") == "abc abc"


def test_headers() -> None:
    r = Redactor([KEY])
    out = r.headers(
        {
            "Authorization": f"Bearer {KEY}",
            "Proxy-Authorization": "Basic dXNlcjpwYXNzd29yZA==",
            "X-Api-Key": KEY,
            "api-key": KEY,
            "Cookie": "session=abc",
            "set-cookie": "a=b",
            "User-Agent": "mscli/0.1.0",
            "X-Echo": f"echo {KEY}",
        }
    )
    assert out["Authorization"] == "Bearer sk_…a1b2"
    assert out["Proxy-Authorization"] == "Basic …ZA=="
    assert out["X-Api-Key"] == "sk_…a1b2"
    assert out["api-key"] == "sk_…a1b2"
    assert out["Cookie"] == "<redacted>"
    assert out["set-cookie"] == "<redacted>"
    assert out["User-Agent"] == "mscli/0.1.0"
    assert KEY not in " ".join(out.values())


def test_headers_from_pairs_joins_repeats() -> None:
    out = Redactor().headers([("Via", "a"), ("Via", "b")])
    assert out == {"Via": "a, b"}


def test_url() -> None:
    r = Redactor([KEY])
    out = r.url(f"https://user:pa55word@gw.example.com/v1/models?api_key={KEY}&limit=5&token=t0k3n")
    assert "pa55word" not in out
    assert "user" not in out
    assert KEY not in out
    assert "t0k3n" not in out
    assert "limit=5" in out
    assert out.startswith("https://gw.example.com/v1/models?")


def test_url_plain_unchanged() -> None:
    url = "https://api.modelstack.cc/v1/chat/completions"
    assert Redactor().url(url) == url


def test_redaction_is_idempotent() -> None:
    r = Redactor([KEY])
    for s in [
        f"Authorization: Bearer {KEY}",
        f"key {KEY} and sk-abcdefghijklmnopqrstuv",
        "> authorization: Bearer sk_…a1b2",
    ]:
        once = r.text(s)
        assert r.text(once) == once
    headers = r.headers({"Authorization": f"Bearer {KEY}"})
    assert r.headers(headers) == headers


def test_strip_control_keeps_tab_and_newline_and_drops_escapes() -> None:
    from mscli.redact import strip_control

    assert strip_control("a\tb\nc\x1b[2Jd\x00e\x7ff\x9bg\u00e9") == "a\tb\nc[2Jdefgé"
