"""Masking secrets of storage URLs in everything the toolkit prints or writes.

One rule for every URL form (``postgresql://``, ``postgresql+psycopg2://``, ``mysql+pymysql://``,
``redis://``...):

- the userinfo is everything between ``://`` and the **last** ``@`` of the URL, and the password
  is everything in it after its first ``:`` - so a password holding ``/``, ``@``, ``:``, ``?``
  or ``#`` is masked whole (``postgresql://u:ab/S3cr3t@host/db`` -> ``postgresql://u:***@host/db``);
- query parameters naming a secret (``password``, ``passwd``, ``pwd``, ``secret``, ``token``,
  ``api_key``... in any case, also ``sslpassword``) have their value masked up to the next
  ``&name=`` parameter or the end;
- in free text (error messages), every URL is masked that way, ``password=...`` pairs outside
  URLs too, and the literal secrets of the URLs the caller names (raw and percent-decoded, at
  least :data:`MIN_LITERAL` characters) wherever a driver echoed them.

When in doubt the rule masks more (a host after an ``@`` in a query is hidden with the password),
never less. See docs/hardening.md.

The lowest layer: this module imports nothing else of the toolkit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

__all__ = ["MASK", "mask_secrets", "mask_url", "url_secrets"]

MASK = "***"
MIN_LITERAL = 4
"""Shortest secret replaced wherever it appears in free text (shorter ones would mangle words)."""

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-_]*://)(?P<rest>.*)$", re.DOTALL)
_SECRET_KEY = r"[A-Za-z0-9_.\-]*(?:password|passwd|pwd|secret|token|api_?key|access_?key|credentials?)"
_QUERY_SECRET = re.compile(
    rf"(?P<key>(?:^|[?&;]){_SECRET_KEY}=)(?P<value>.*?)(?=&[A-Za-z_][A-Za-z0-9_.\-]*=|;|#|$)",
    re.IGNORECASE | re.DOTALL,
)
_TEXT_SECRET = re.compile(
    rf"(?P<key>\b{_SECRET_KEY}\s*[=:]\s*)(?P<quote>['\"]?)(?P<value>[^\s&'\",;)]+)",
    re.IGNORECASE,
)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-_]*://[^\s'\"<>`]+")


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme://, user, password or '', after the last @)``; ``None`` without userinfo."""
    match = _SCHEME.match(url)
    if match is None:
        return None
    rest = match["rest"]
    at = rest.rfind("@")
    if at < 0:
        return None
    userinfo, after = rest[:at], rest[at + 1 :]
    user, colon, password = userinfo.partition(":")
    return match["scheme"], user, password if colon else "", after


def mask_url(url: str) -> str:
    """A storage URL with its password and secret query parameters replaced by ``***``.

    Parameters
    ----------
    url
        Any URL (or text that is not one: returned with only ``password=`` pairs masked).

    Returns
    -------
    str
        ``postgresql://user:***@host/db``, ``postgresql://user@host/db?password=***``...

    Examples
    --------
    >>> mask_url("postgresql+psycopg2://u:ab/S3@cr:et@db.example:5432/shop?sslmode=require")
    'postgresql+psycopg2://u:***@db.example:5432/shop?sslmode=require'
    >>> mask_url("postgresql://u@host/db?password=S3cr3t&sslmode=require")
    'postgresql://u@host/db?password=***&sslmode=require'
    """
    parts = _split(url)
    if parts is not None:
        scheme, user, password, after = parts
        if password:
            url = f"{scheme}{user}:{MASK}@{after}"
    head, question, query = url.partition("?")
    if question:
        query = _QUERY_SECRET.sub(lambda m: m["key"] + MASK, query)
        return head + question + query
    return _QUERY_SECRET.sub(lambda m: m["key"] + MASK, head) if "=" in head else head


def url_secrets(url: str | None) -> list[str]:
    """The secrets a URL carries (password, secret query values), raw and percent-decoded.

    Parameters
    ----------
    url
        A storage URL, or ``None``.

    Returns
    -------
    list of str
        Each secret once, longest first (so a secret containing another is replaced first),
        with the pieces of a secret holding ``@`` (a driver may echo one of them as a host).
    """
    if not url:
        return []
    found: set[str] = set()
    parts = _split(url)
    if parts is not None and parts[2]:
        found.add(parts[2])
    _head, _question, query = url.partition("?")
    for match in _QUERY_SECRET.finditer(query):
        if match["value"]:
            found.add(match["value"])
    found |= {unquote(secret) for secret in found}
    # A driver that reads the first ``@`` as the end of the user part takes the rest of such a
    # password for the host and echoes it ("failed to resolve host 'S3cr3t@host'").
    found |= {piece for secret in found for piece in secret.split("@")}
    return sorted((s for s in found if s), key=len, reverse=True)


def mask_secrets(text: str, urls: Iterable[str | None] = ()) -> str:
    """Text (an error message, a printout, a JSON document) with every secret masked.

    Parameters
    ----------
    text
        The text.
    urls
        Storage URLs whose secrets must not appear anywhere in ``text``, even outside a URL
        (a database driver may echo a password in its own words).

    Returns
    -------
    str
        The text with every URL masked by :func:`mask_url`, ``password=...`` pairs masked and
        the literal secrets of ``urls`` (at least :data:`MIN_LITERAL` characters) replaced by
        ``***``.
    """
    for secret in sorted({s for url in urls for s in url_secrets(url)}, key=len, reverse=True):
        if len(secret) >= MIN_LITERAL:
            text = text.replace(secret, MASK)
    text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _TEXT_SECRET.sub(lambda m: m["key"] + m["quote"] + MASK, text)
