"""A short, readable name for a browser from its ``User-Agent`` ("Firefox on Linux"), for "Your sessions".

Deliberately small: the page needs a hint a person recognises, not analytics.
Order matters because user agents lie in layers (Edge says Chrome and Safari,
Chrome says Safari, every browser says Mozilla), so the most specific token
is tested first.
"""

from __future__ import annotations

import re

_BROWSERS: list[tuple[str, re.Pattern[str]]] = [
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(?:OPR|Opera)/")),
    ("Samsung Internet", re.compile(r"\bSamsungBrowser/")),
    ("Headless Chrome", re.compile(r"\bHeadlessChrome/")),
    ("Chrome", re.compile(r"\b(?:Chrome|CriOS)/")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/")),
    ("Safari", re.compile(r"\bVersion/[\d.]+.*\bSafari/")),
    ("curl", re.compile(r"^curl/")),
    ("HTTPie", re.compile(r"^HTTPie/")),
    ("Python", re.compile(r"^(?:python-requests|python-urllib3|Python-urllib|python-httpx)/")),
]

_SYSTEMS: list[tuple[str, re.Pattern[str]]] = [
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("Linux", re.compile(r"\bLinux\b")),
]


def device_name(user_agent: str) -> str:
    """``"Firefox on Linux"``, ``"Safari on iOS"``, ``"curl"``, or ``"Unknown device"``."""
    ua = (user_agent or "").strip()
    if not ua:
        return "Unknown device"
    browser = next((name for name, pattern in _BROWSERS if pattern.search(ua)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(ua)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"a browser on {system}" if system else "Unknown device")
