"""PII and secrets are scrubbed before anything becomes a memory."""

from __future__ import annotations

import pytest

from reasoningbank import ReasoningBank
from reasoningbank.loop import scrub
from tests.conftest import run
from tests.loop.conftest import JUDGE_KEY, SUCCESS_KEY, ScriptedLLM, items, verdict

SECRETS = [
    ("mail alice.smith+work@example.co.uk now", "alice.smith+work@example.co.uk", "[email]"),
    ("key sk-proj-AbCdEf0123456789XyZaBcDeFgHi", "sk-proj-AbCdEf0123456789XyZaBcDeFgHi", "[secret]"),
    ("anthropic sk-ant-api03-AAAABBBBCCCCDDDDEEEE", "sk-ant-api03-AAAABBBBCCCCDDDDEEEE", "[secret]"),
    ("token ghp_0123456789abcdefABCDEF0123456789abcd", "ghp_0123456789abcdefABCDEF0123456789abcd", "[secret]"),
    ("aws AKIAIOSFODNN7EXAMPLE id", "AKIAIOSFODNN7EXAMPLE", "[secret]"),
    ("slack xoxb-123456789012-abcdefghij", "xoxb-123456789012-abcdefghij", "[secret]"),
    ("google AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIzaSyA-1234567890abcdefghijklmnopqrstu", "[secret]"),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[secret]"),
    (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0",
        "[secret]",
    ),
    ("Authorization: Bearer abc123DEF456ghi789", "abc123DEF456ghi789", "Bearer [secret]"),
    ("password=hunter2hunter2 then", "hunter2hunter2", "password=[secret]"),
    ('{"api_key": "q8w7e6r5t4"}', "q8w7e6r5t4", '"api_key": "[secret]"'),
    ("DB_PASSWORD: s3cr3t!", "s3cr3t!", "DB_PASSWORD: [secret]"),
    ("postgres://admin:pa55w0rd@db.internal:5432/x", "pa55w0rd", "postgres://[secret]@db"),
    ("hex 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "9f86d081884c7d", "[secret]"),
    ("b64 dGhpcyBpcyBhIHNlY3JldCBrZXkgMTIzNDU2Nzg5MA==", "dGhpcyBpcyBhIHNlY3JldCBrZXkg", "[secret]"),
    ("call +1 (415) 555-0132 today", "555-0132", "[phone]"),
    ("tel 020 7946 0958 x", "7946 0958", "[phone]"),
    ("intl +44 20 7946 0958", "7946", "[phone]"),
    ("card 4111 1111 1111 1111 ok", "4111 1111 1111 1111", "[card]"),
    ("ssn 123-45-6789", "123-45-6789", "[id-number]"),
    ("host 203.0.113.42 down", "203.0.113.42", "[ip]"),
    ("v6 2001:db8:85a3::8a2e:370:7334 ok", "2001:db8:85a3::8a2e:370:7334", "[ip]"),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA",
        "[secret]",
    ),
]  # fmt: skip

KEPT = [
    "ran pytest: 3 passed, 1 failed in 0.52s",
    "exit code 1 after 12 retries on 2024-01-15 at 12:30:45",
    "version 1.2.3 of numpy, python 3.11.4",
    "listening on 127.0.0.1:8080",
    "edit src/reasoningbank/loop/engine.py line 120",
    "HTTP/1.1 404 Not Found",
    "order #10234 placed for NOK 899",
    "use the token from the meta tag",
]


@pytest.mark.parametrize(("text", "secret", "placeholder"), SECRETS)
def test_secret_is_replaced_by_its_placeholder(text, secret, placeholder):
    out = scrub(text)
    assert secret not in out
    assert placeholder in out


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_technical_text_is_kept(text):
    assert scrub(text) == text


def test_nothing_secret_reaches_the_bank_file(db_path):
    """Secrets in the task, the trajectory and the LLM's lessons: none is in the file."""
    leaky = " ".join(t for t, _, _ in SECRETS)
    llm = ScriptedLLM(
        [
            (JUDGE_KEY, verdict(True, reason=f"worked for {SECRETS[0][0]} {SECRETS[3][0]}")),
            (SUCCESS_KEY, items((f"Use {SECRETS[0][0]}", f"Call {SECRETS[16][0]}.", leaky))),
        ]
    )

    async def go():
        async with await ReasoningBank.open(db_path) as bank:
            await bank.learn(f"email bob@example.org with {SECRETS[1][0]}", leaky, llm=llm)
            await bank.learn("deploy the service", "step 1\n" + leaky + "\n3 passed")

    run(go())
    raw = open(db_path, "rb").read()
    for path in (db_path + "-wal",):
        try:
            raw += open(path, "rb").read()
        except FileNotFoundError:
            pass
    for _, secret, _ in SECRETS + [("", "bob@example.org", "")]:
        assert secret.encode() not in raw, secret
    # the LLM never saw them either
    for prompt in llm.prompts:
        for _, secret, _ in SECRETS:
            assert secret not in prompt, secret


def test_long_identifiers_are_not_mistaken_for_keys():
    text = "the function getUserAccountSettingsFromDatabase2 failed in AbstractProxyFactoryBeanImpl"
    assert scrub(text) == text
