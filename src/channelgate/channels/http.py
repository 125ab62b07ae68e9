"""The gateway's one HTTP client for platform calls: a single aiohttp session per process, kept simple.

Every call to a platform (and to the hand-off desk) goes through one :class:`PlatformHTTP`. It was httpx on
top of aiohttp through the young ``httpx-aiohttp`` shim: the profile behind docs/benchmarks.md put that stack
at a quarter of the event loop's time, three times plain aiohttp per call. The parts of httpx the channels
used are few (a request, a status, headers, a body), so they get exactly that, on aiohttp directly:

* one ``ClientSession`` and one connection pool (512), built on first use inside the running loop;
* no redirects followed unless a call asks (``redirects=``), and then ``Authorization`` is dropped when the
  target is another origin: no call can carry a secret to a host the operator did not configure;
* no cookie jar (a platform's cookies would leak between integrations);
* proxy settings (``HTTP(S)_PROXY``, ``NO_PROXY``) read once, when the session is built: aiohttp's own
  ``trust_env`` reads them, and ``~/.netrc`` in a worker thread, on every request;
* every failure to get an answer (refused, reset, timed out, bad URL) is one :class:`NetworkError`, so
  callers do not import aiohttp.

:class:`Response` keeps httpx's attribute names (``status_code``, ``headers``, ``content``, ``text``,
``is_success``, ``json()``) so error tables and channels read an answer the same way as before.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from urllib.request import proxy_bypass_environment  # type: ignore[attr-defined]  # not in typeshed

import aiohttp
import orjson
from aiohttp.helpers import ProxyInfo, proxies_from_env
from yarl import URL

__all__ = ["NetworkError", "PlatformHTTP", "Response", "TooLarge", "basic_auth"]

#: a multipart file: (filename, content, content type)
File = tuple[str, bytes, str]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP Basic authentication."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class NetworkError(Exception):
    """No answer: the connection failed or was cut, the call timed out, or the URL is not one we can call.

    ``connect`` is True when the request cannot have reached the server (refused, DNS, connect timeout):
    a caller that must not repeat a request may still retry those.
    """

    def __init__(self, message: str, *, connect: bool = False, timeout: bool = False) -> None:
        super().__init__(message)
        self.connect = connect
        self.timeout = timeout


class TooLarge(Exception):
    """The answer's body is over the call's ``max_bytes``."""


@dataclass(frozen=True, slots=True)
class Response:
    """An answer, read in full: what the channels need of it and nothing more."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes = b""
    url: str = ""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        """The body as text (the declared charset, else UTF-8; undecodable bytes replaced)."""
        charset = "utf-8"
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.content.decode(charset, errors="replace")
        except LookupError:
            return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return orjson.loads(self.content)


class PlatformHTTP:
    """One pooled client for every platform call of a process. Close it with :meth:`close`."""

    def __init__(
        self,
        *,
        connections: int = 512,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        trust_env: bool = True,
        user_agent: str = "channelgate",
    ) -> None:
        self.connections = connections
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        self.trust_env = trust_env
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, ProxyInfo] = {}
        self._env: dict[str, str] = {}

    def _open(self) -> aiohttp.ClientSession:
        """The session, built on first use (aiohttp binds it to the running loop)."""
        if self._session is None:
            if self.trust_env:
                self._proxies = proxies_from_env()
                no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
                self._env = {"no": no_proxy} if no_proxy else {}
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections, limit_per_host=0),
                timeout=self.timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": self.user_agent},
                trust_env=False,  # read once above
            )
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> PlatformHTTP:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        files: Mapping[str, File] | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        redirects: int = 0,
    ) -> Response:
        """One call, its answer read in full.

        ``json`` is sent as orjson bytes; ``data`` as a form (a list value repeats its key); ``files``
        (with ``data`` as the other fields) as multipart. Raises :class:`NetworkError`, and :class:`TooLarge`
        when the body is over ``max_bytes``; a call that must end sooner than the session's timeouts wraps
        this in ``asyncio.timeout``. Redirects are answered to the caller, unless ``redirects`` allows that
        many GETs to follow (see the module docstring)."""
        send_headers = dict(headers or {})
        body: Any = content
        if json is not None:
            body = orjson.dumps(json)
            send_headers.setdefault("content-type", "application/json")
        elif files is not None:
            form = aiohttp.FormData()
            for name, value in (data or {}).items():
                form.add_field(name, str(value))
            for name, (filename, payload, mime) in files.items():
                form.add_field(name, payload, filename=filename, content_type=mime)
            body = form
        elif data is not None:
            body = urlencode(data, doseq=True).encode()
            send_headers.setdefault("content-type", "application/x-www-form-urlencoded")
        try:
            target = URL(url)
            if params:
                target = target.update_query({k: str(v) for k, v in params.items()})
        except (ValueError, TypeError) as exc:
            raise NetworkError(_describe(exc), connect=True) from None
        hops = redirects if method in ("GET", "HEAD") else 0
        while True:
            response = await self._once(method, target, body, send_headers, max_bytes)
            location = response.headers.get("location")
            if hops <= 0 or response.status_code not in _REDIRECTS or not location:
                return response
            hops -= 1
            try:
                following = target.join(URL(location))
                cross_origin = following.origin() != target.origin()
            except ValueError:
                return response  # a Location we cannot follow: the caller sees the redirect
            if cross_origin:
                send_headers = {k: v for k, v in send_headers.items() if k.lower() != "authorization"}
            target = following

    async def _once(
        self,
        method: str,
        url: URL,
        body: Any,
        headers: Mapping[str, str],
        max_bytes: int | None,
    ) -> Response:
        session = self._open()
        options: dict[str, Any] = {}
        proxy = self._proxy(url) if self._proxies else None
        if proxy is not None:
            options.update(proxy=proxy.proxy, proxy_auth=proxy.proxy_auth)
        try:
            async with session.request(
                method, url, data=body, headers=headers, allow_redirects=False, **options
            ) as answer:
                content = await _read(answer, max_bytes)
                return Response(answer.status, answer.headers, content, str(answer.url))
        except aiohttp.ConnectionTimeoutError as exc:
            raise NetworkError(_describe(exc), connect=True, timeout=True) from None
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise NetworkError(_describe(exc), connect=True) from None
        except TimeoutError as exc:
            raise NetworkError(_describe(exc), timeout=True) from None
        except aiohttp.ClientError as exc:
            raise NetworkError(_describe(exc)) from None

    def _proxy(self, url: URL) -> ProxyInfo | None:
        proxy = self._proxies.get(url.scheme)
        if proxy is None or (url.host and proxy_bypass_environment(url.host, self._env)):
            return None
        return proxy


async def _read(answer: aiohttp.ClientResponse, max_bytes: int | None) -> bytes:
    if max_bytes is None:
        return await answer.read()
    chunks, size = [], 0
    async for chunk in answer.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"the answer is over {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _describe(exc: BaseException) -> str:
    """``Type: message`` of a client error (the message may hold a URL: callers scrub their secrets)."""
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
