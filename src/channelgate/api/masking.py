"""Secrets in the admin API's answers and changes: shown as ``***``, and ``***`` sent back keeps the stored
value, so a client can PATCH what it read without ever holding (or erasing) a secret.

Which values are secret is read from the validated settings (``SecretStr``/``SecretBytes`` fields), never
from their names, so a channel's or the hand-off's new secret field is masked without a change here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, SecretBytes, SecretStr

from channelgate.api.errors import ApiError

MASK = "***"


def _masked(plain: Any, shown: Any) -> Any:
    """``shown`` (a JSON dump) with ``***`` where ``plain`` (the Python dump of the same) holds a secret."""
    if isinstance(plain, SecretStr | SecretBytes):
        return MASK
    if isinstance(plain, dict) and isinstance(shown, dict):
        return {k: _masked(plain.get(k), v) for k, v in shown.items()}
    if isinstance(plain, list | tuple) and isinstance(shown, list):
        return [_masked(p, v) for p, v in zip(plain, shown, strict=False)]
    return shown


def masked_model(model: BaseModel) -> dict[str, Any]:
    """A settings model as the API shows it: JSON values, every secret (at any depth) as ``***``."""
    shown: dict[str, Any] = _masked(model.model_dump(), model.model_dump(mode="json"))
    return shown


def unmasked(new: Any, stored: Any, where: str) -> Any:
    """``new`` with every ``***`` replaced by the stored value at the same place; 400 naming the field when
    nothing is stored there (the mask would otherwise become the secret)."""
    if isinstance(new, dict):
        old = stored if isinstance(stored, dict) else {}
        return {k: unmasked(v, old.get(k), f"{where}.{k}") for k, v in new.items()}
    if new == MASK:
        if stored is None or stored == MASK:
            raise ApiError(400, f"{where}: *** keeps a stored secret, but none is stored: give the value")
        return stored
    return new
