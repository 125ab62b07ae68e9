"""Encryption at rest of the secrets the gateway itself writes to the store: the settings of integrations
created through the admin API, and what channels keep in the shared key-value table (the web chat's HMAC
key, cached platform access tokens).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) does the cryptography; this module only decides
where the keys come from and marks what it sealed (``fernet:`` + token), so values written before
encryption existed still read as they are until ``channelgate secrets rotate`` seals them.

Keys, in order (the first encrypts, every one decrypts, so a rotation can be rolled out):

1. ``CHANNELGATE_SECRET_KEY``: one or more Fernet keys separated by commas (new first);
2. the ``secret_key_file`` setting: a file holding one key (read as a decrypting key after those of 1);
3. for a SQLite file store without 1 or 2: ``<database>.key`` beside it, created 0600 with a new key the
   first time, so ``channelgate init && channelgate serve`` just works and the database file alone (a
   copy, a backup without its key) gives no secret away.

A PostgreSQL store has no "beside": replicas must share one key, so it needs 1 or 2, and the gateway
refuses to start without (see :class:`SecretKeyMissing`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV_VAR = "CHANNELGATE_SECRET_KEY"
PREFIX = "fernet:"
GENERATE_HINT = "generate one with `channelgate secrets generate-key`"


class SecretKeyError(RuntimeError):
    """A sealed value cannot be opened, or a secret cannot be sealed: the message says what to do."""


class SecretKeyMissing(SecretKeyError):
    """No key is configured where one is needed."""


def sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL; None for in-memory databases and other engines."""
    if not url.startswith("sqlite"):
        return None
    _, sep, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not sep or not path or path == ":memory:" or "mode=memory" in url:
        return None
    return Path(path)


def create_private(path: Path, content: bytes = b"") -> bool:
    """Create ``path`` readable and writable by its owner only (0600, whatever the umask); False when it
    exists already (then it is left as it is). ``O_EXCL`` so a file that appeared meanwhile is never
    truncated."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, 0o600)  # explicit: a directory's default ACL can widen what open() was asked for
        if content:
            os.write(fd, content)
    finally:
        os.close(fd)
    return True


def _parse_keys(text: str, where: str) -> list[bytes]:
    keys = [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SecretKeyError(  # which one, never any of its characters
                f"{where}: key {number} of {len(keys)} is not a Fernet key (32 url-safe base64-encoded "
                f"bytes); {GENERATE_HINT}"
            ) from None
    return [k.encode() for k in keys]


class SecretBox:
    """Seals and opens secrets with the configured keys. Without any key (``keys`` empty) it still opens
    values stored in clear, and raises :class:`SecretKeyMissing` for everything else."""

    def __init__(self, keys: list[bytes], source: str, *, missing_reason: str = "") -> None:
        self.source = source
        self.missing_reason = missing_reason
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None

    @property
    def usable(self) -> bool:
        return self._fernet is not None

    @classmethod
    def for_store(
        cls,
        url: str,
        key_file: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> SecretBox:
        """The keys for the store at ``url``, from the environment, ``key_file`` or the default file."""
        env = os.environ if environ is None else environ
        keys: list[bytes] = []
        sources: list[str] = []
        if env.get(ENV_VAR, "").strip():
            keys += _parse_keys(env[ENV_VAR], ENV_VAR)
            sources.append(ENV_VAR)
        database = sqlite_path(url)
        file = Path(key_file).expanduser() if key_file else None
        if file is None and database is not None:
            file = database.with_name(database.name + ".key")
        if file is not None:
            if not keys and database is not None and file.parent.is_dir():
                create_private(file, Fernet.generate_key() + b"\n")  # a SQLite store's first start
            if file.exists():
                try:
                    text = file.read_text(encoding="ascii")
                except (OSError, UnicodeDecodeError) as exc:
                    raise SecretKeyError(f"secret key file {file}: cannot read it ({exc})") from None
                keys += _parse_keys(text, f"secret key file {file}")
                sources.append(str(file))
            elif key_file:
                raise SecretKeyMissing(
                    f"secret_key_file {file} does not exist; {GENERATE_HINT} and write it there (mode 0600)"
                )
        if not keys:
            if database is None and url.startswith("sqlite"):
                return cls([Fernet.generate_key()], "a key in memory (in-memory store)")
            return cls(
                [],
                "none",
                missing_reason=(
                    f"the store ({url.split('://', 1)[0]}) needs a key to encrypt the secrets it keeps: set "
                    f"{ENV_VAR} (the same on every replica; {GENERATE_HINT}) or secret_key_file"
                ),
            )
        return cls(keys, " + ".join(sources))

    def _need(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretKeyMissing(self.missing_reason or f"no secret key: set {ENV_VAR}; {GENERATE_HINT}")
        return self._fernet

    @staticmethod
    def sealed(value: str) -> bool:
        return value.startswith(PREFIX)

    def seal(self, text: str) -> str:
        return PREFIX + self._need().encrypt(text.encode()).decode()

    def open(self, value: str) -> str:
        """The clear text of a sealed value; a value stored in clear (before encryption) as it is."""
        if not self.sealed(value):
            return value
        if self._fernet is None:
            raise SecretKeyMissing(
                f"the store holds encrypted secrets but no key is set: set {ENV_VAR} (or secret_key_file) "
                "to the key they were encrypted with"
            )
        try:
            return self._fernet.decrypt(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                f"a stored secret does not open with the configured key(s) ({self.source}): put the key it "
                f"was encrypted with after the new one in {ENV_VAR} (KEY_NEW,KEY_OLD), then run "
                "`channelgate secrets rotate`"
            ) from None

    def rotate(self, value: str) -> str:
        """``value`` sealed with the first key: re-encrypted if sealed, encrypted if in clear."""
        fernet = self._need()
        if not self.sealed(value):
            return self.seal(value)
        try:
            return PREFIX + fernet.rotate(value[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            self.open(value)  # raises the explanation
            raise


def generate_key() -> str:
    return Fernet.generate_key().decode()
