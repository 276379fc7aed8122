"""Parsing JSON that arrives from outside (the API, provider webhooks) without letting its
shape crash the bridge: a nesting limit (Python's parser recurses, and a deep enough document
raises RecursionError), and no lone surrogate in any string (JSON's ``\\ud800`` escape gives a
Python string that cannot be encoded, so it would fail later, far from its cause)."""

from __future__ import annotations

import json

MAX_DEPTH = 32


class Refused(ValueError):
    """The JSON cannot be used; ``path`` names where (``body``, ``to[2]``, ``headers.X-Foo``)."""

    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem


def loads(data: bytes | str):
    """Parse ``data``; raise :class:`Refused` for malformed, too deep or unencodable JSON."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise Refused("body", f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused("body", f"the body is not valid JSON ({exc})") from None
    stack = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Refused("body", f"the JSON is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            for key, sub in item.items():
                where = f"{path}.{key}" if path else str(key)
                _encodable(key, where)
                stack.append((sub, where, depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
        elif isinstance(item, str):
            _encodable(item, path or "body")
    return value


def _encodable(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise Refused(where.encode("utf-8", "replace").decode(),
                      f"contains a lone surrogate (U+{ord(text[exc.start]):04X}), which is not "
                      "text") from None
