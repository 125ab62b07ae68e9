"""``X-Twilio-Signature``: base64(HMAC-SHA1(auth token, URL + each POST parameter's name and value)).

The algorithm of Twilio's own validators (twilio-python ``RequestValidator``): start from the full URL
Twilio called, query string included; append every POST parameter as ``name`` + ``value`` with no
separator, names sorted, the values of a repeated name sorted and de-duplicated; HMAC-SHA1 with the Auth
Token; base64. Twilio is not consistent about the port, so a signature over the URL with or without the
default port is accepted. A JSON body (Twilio's newer webhooks) is signed differently: the URL carries
``bodySHA256`` (hex SHA-256 of the body) and the signature covers the URL alone.

There is no timestamp in the signature: a replay of a captured request is answered once by the dedup on
``MessageSid``. Comparisons are constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

HEADER = "X-Twilio-Signature"


def signature(token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The signature Twilio sends for a request to ``url`` with form ``params`` (name, value pairs)."""
    values: dict[str, set[str]] = {}
    for name, value in params:
        values.setdefault(name, set()).add(value)
    data = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """``url`` without and with its scheme's default port (Twilio signs either, depending on the path
    the request took); a URL naming another port is only itself."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or port not in (None, default):
        return [url]
    without = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{default}"))
    return [without, with_port]


def valid(token: str, url: str, params: Iterable[tuple[str, str]], given: str, body: bytes = b"") -> bool:
    """Whether ``given`` is Twilio's signature of this request (constant-time), with or without the port.

    ``params`` are the form parameters (none for a JSON body). When the URL carries ``bodySHA256``, the
    signature covers the URL alone and the hash must be the body's."""
    pairs = list(params)
    query = parse_qs(urlsplit(url).query)
    body_ok = True
    if "bodySHA256" in query:
        body_ok = hmac.compare_digest(
            query["bodySHA256"][0].encode(), hashlib.sha256(body).hexdigest().encode()
        )
        pairs = []
    matches = [
        hmac.compare_digest(signature(token, u, pairs).encode(), given.encode()) for u in url_variants(url)
    ]
    return body_ok and any(matches)
