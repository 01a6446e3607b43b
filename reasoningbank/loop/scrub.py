"""Remove personal data and secrets from text before it becomes a memory.

Why before storing: items are shared (bus, bundles) and shown to other models (memory
prompts); an email address or an API key pasted into a trajectory must not travel with them.
Each kind is replaced by a placeholder (``[email]``, ``[secret]``, ...) so the lesson still
reads. The rules prefer over-scrubbing: a long hex run may be a harmless hash, but it may
also be a key.
"""

from __future__ import annotations

import math
import re
from collections import Counter

__all__ = ["scrub"]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 10 or (text.startswith("+") and len(digits) >= 8):
        return "[phone]"
    return text


def _ipv4(match: re.Match[str]) -> str:
    parts = match.group(0).split(".")
    if any(int(p) > 255 for p in parts):
        return match.group(0)
    if parts[0] in ("127", "0"):
        return match.group(0)  # loopback and "any": not anybody's address
    return "[ip]"


def _mixed_secret(match: re.Match[str]) -> str:
    """A long run of base64/url-safe characters mixing case and digits reads as a key."""
    text = match.group(0)
    if "/" in text and not text.endswith("="):
        return text  # a path, not base64
    mixed = re.search(r"[a-z]", text) and re.search(r"[A-Z]", text)
    if mixed and len(re.findall(r"\d", text)) >= 2 and _entropy(text) >= 4.0:
        return "[secret]"  # random-looking; a long camelCase name has fewer digits, less entropy
    return text


def _entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_SECRET_NAMES = (
    r"pass(?:word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|auth|"
    r"client[_-]?secret|private[_-]?key|credentials?"
)

_RULES: list[tuple[re.Pattern[str], object]] = [
    (
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S
        ),
        "[secret]",
    ),
    (re.compile(r"(?<=://)[^\s/:@]+:[^\s/@]+(?=@)"), "[secret]"),  # user:password@host
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"), "[secret]"),
    (
        re.compile(
            r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}"
            r"|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}"
            r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
            r"|xox[abposr]-[A-Za-z0-9-]{10,}"
            r"|AIza[0-9A-Za-z_-]{35}"
            r"|(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}"
            r"|glpat-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36})"
        ),
        "[secret]",
    ),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 [secret]"),
    (
        re.compile(
            rf"(?i)\b((?:[a-z0-9_-]*[_-])?(?:{_SECRET_NAMES}))(\"?\s*[:=]\s*\"?)[^\s\"',;]+"
        ),
        r"\1\2[secret]",
    ),
    (re.compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"), "[email]"),
    (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), _card),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), "[id-number]"),
    (re.compile(r"(?<![\w.])\+?\(?\d[\d ().-]{6,}\d(?![\w.])"), _phone),
    (re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"), _ipv4),
    (
        re.compile(
            r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])"
            r"|(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,5})?(?![\w:])"
        ),
        "[ip]",
    ),
    (re.compile(r"(?i)\b[0-9a-f]{32,}\b"), "[secret]"),
    (re.compile(r"(?<![\w/+=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![\w/+=-])"), _mixed_secret),
]


def scrub(text: str) -> str:
    """``text`` with emails, keys and tokens, phone and card numbers and IP addresses
    replaced by placeholders."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)  # type: ignore[call-overload]
    return text
