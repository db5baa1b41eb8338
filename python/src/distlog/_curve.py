"""CURVE keys for the handler: the files `distlog keygen` writes.

A key pair is `NAME.key` (`public-key = <Z85>` and `secret-key = <Z85>`
lines, `#` comments) and `NAME.pub` (the public key alone). A server key
may be given as its 40 Z85 characters or as the path of either file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Tuple, Union

import zmq

__all__ = ["CurveKeys", "load_curve"]

_Z85_ORDER = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85 = set(_Z85_ORDER)


@dataclass(frozen=True)
class CurveKeys:
    server_public: bytes
    public: bytes
    # Kept out of repr, so a logged handler never shows it.
    secret: bytes = field(repr=False)

    def apply(self, sock: Any) -> None:
        sock.curve_serverkey = self.server_public
        sock.curve_publickey = self.public
        sock.curve_secretkey = self.secret


def load_curve(server_key: str, key_file: Union[str, os.PathLike[str]]) -> CurveKeys:
    """Reads and checks both now, so a bad key fails where the handler is
    made, not silently on the sender thread."""
    if not zmq.has("curve"):
        raise ValueError("this pyzmq's libzmq has no CURVE support (zmq.has('curve') is False)")
    server = _public_key(server_key)
    public, secret = _key_pair(os.fspath(key_file))
    return CurveKeys(server, public, secret)


def _check(text: str, what: str) -> bytes:
    if len(text) != 40 or not set(text) <= _Z85 or not _decodes(text):
        raise ValueError(
            f"{what}: not a CURVE key (expected 40 characters of Z85, as `distlog keygen` writes)"
        )
    return text.encode("ascii")


def _decodes(text: str) -> bool:
    # Each 5-character group must fit 32 bits, as libzmq and the Rust
    # side require (a key starting with `#` does not).
    value = 0
    for n, ch in enumerate(text):
        value = value * 85 + _Z85_ORDER.index(ch)
        if n % 5 == 4:
            if value >= 1 << 32:
                return False
            value = 0
    return True


def _read(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise ValueError(f"{what}: cannot read {path}: {e.strerror or e}") from None


def _public_key(given: str) -> bytes:
    given = given.strip()
    if not os.path.exists(given):
        if len(given) == 40:
            return _check(given, "curve_server_key")
        raise ValueError(
            f"curve_server_key: {given!r} is neither a CURVE key (40 characters of Z85) nor a file"
        )
    text = _read(given, "curve_server_key")
    if "public-key" in text:
        return _key_pair(given)[0]
    keys = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(keys) != 1:
        raise ValueError(f"curve_server_key: {given} must hold exactly one key, not {len(keys)}")
    return _check(keys[0], f"curve_server_key ({given})")


def _key_pair(path: str) -> Tuple[bytes, bytes]:
    found = {}
    for n, line in enumerate(_read(path, "curve_key").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) == 40 and set(line) <= _Z85:
            break  # a .pub file (`=` is a Z85 character too): said below
        name, sep, value = line.partition("=")
        if not sep or name.strip() not in ("public-key", "secret-key"):
            raise ValueError(f"curve_key: {path}, line {n}: expected `public-key = …` or `secret-key = …`")
        found[name.strip()] = _check(value.strip(), f"curve_key: {path}, line {n}")
    if len(found) != 2:
        raise ValueError(
            f"curve_key: {path} needs both `public-key` and `secret-key` "
            "(a .pub file holds only the public half; give the .key file)"
        )
    # A hand-edited file with halves of two pairs would fail every
    # handshake with nothing to say why.
    if zmq.curve_public(found["secret-key"]) != found["public-key"]:
        raise ValueError(
            f"curve_key: {path}: its public-key is not the public half of its secret-key "
            "(halves of two different key pairs?); make a new pair with `distlog keygen`"
        )
    return found["public-key"], found["secret-key"]
