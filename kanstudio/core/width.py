"""Network architecture in KAN 2.0 notation: sum nodes and product (multiplication) nodes.

A width is a list with one entry per level (inputs first). An entry is an int (that many
sum nodes) or a pair ``[sums, products]``: ``[2, [0, 1], 1]`` has one hidden product node,
``[3, [2, 1], 1]`` two hidden sum nodes and one product node. Within a level the sum nodes
come first, then the product nodes. Input nodes are never products.

A product node multiplies ``arity`` sub-nodes (``mult_arity``: default 2, an int for every
product node or one int per product node). Each sub-node is a sum of edge functions plus a
bias, exactly like a sum node, so the layer that feeds a level has one *column* per sub-node:
``n_sum + sum(arities)`` columns, the sums' columns first, then each product node's factors
side by side. That column is the ``j`` of an edge address ``(layer, i, j)``.

The text form for command lines and the width field: ``2,0+1,1`` (a ``+`` separates sums
from products) or the JSON-like ``2,[0,1],1`` / ``[2,[0,1],1]``. Parsing uses ``json``,
never ``eval``.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Architecture", "parse_width", "parse_width_text", "format_width", "MAX_ARITY"]

MAX_ARITY = 16
WidthEntry = int | list[int]


@dataclass(frozen=True)
class Architecture:
    """Sum nodes per level and the arity of each product node per level."""

    sums: tuple[int, ...]
    arities: tuple[tuple[int, ...], ...]

    @property
    def nodes(self) -> list[int]:
        """Nodes per level (sums + products): what the next layer sees as inputs."""
        return [s + len(a) for s, a in zip(self.sums, self.arities, strict=True)]

    @property
    def columns(self) -> list[int]:
        """Sub-node columns per level (sums + every product's factors)."""
        return [s + sum(a) for s, a in zip(self.sums, self.arities, strict=True)]

    @property
    def has_products(self) -> bool:
        return any(self.arities)

    def notation(self) -> list[WidthEntry]:
        """KAN 2.0 notation: an int per level, or [sums, products] where a level has
        product nodes."""
        return [[s, len(a)] if a else s for s, a in zip(self.sums, self.arities, strict=True)]

    def arity_lists(self) -> list[list[int]]:
        """The arity of every product node, one list per level (JSON-able)."""
        return [list(a) for a in self.arities]


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def parse_width(width: Sequence[Any], mult_arity: Any = 2) -> Architecture:
    """Check a width in KAN 2.0 notation and give its :class:`Architecture`.

    ``mult_arity``: an int for every product node, a flat list with one int per product
    node (levels in order), or a list with one list per level (the input level may be
    left out).
    """
    if isinstance(width, str | bytes) or not isinstance(width, Sequence):
        raise ValueError(f"width must be a list, got {width!r}")
    entries = list(width)
    if len(entries) < 2:
        raise ValueError(f"width must list at least two levels, got {entries}")
    sums, prods = [], []
    for level, entry in enumerate(entries):
        if isinstance(entry, Sequence) and not isinstance(entry, str | bytes):
            pair = list(entry)
            if len(pair) != 2:
                raise ValueError(f"width entry {level} must be an int or [sums, products], "
                                 f"got {entry!r}")
            s, p = _count(pair[0], "sums"), _count(pair[1], "products")
        else:
            if isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
                entry = int(entry)  # numpy integers
            s, p = _count(entry, f"width entry {level}"), 0
        if s + p < 1:
            raise ValueError(f"width entry {level} has no nodes: {entry!r}")
        if level == 0 and p:
            raise ValueError("input nodes cannot be product nodes (width[0] must be an int)")
        sums.append(s)
        prods.append(p)
    return Architecture(tuple(sums), _arities(prods, mult_arity))


def _arities(prods: list[int], mult_arity: Any) -> tuple[tuple[int, ...], ...]:
    def check(a: Any) -> int:
        if isinstance(a, bool) or not isinstance(a, int) or not 2 <= a <= MAX_ARITY:
            raise ValueError(f"mult_arity must be an integer in [2, {MAX_ARITY}], got {a!r}")
        return a

    total = sum(prods)
    if isinstance(mult_arity, int) and not isinstance(mult_arity, bool):
        a = check(mult_arity)
        return tuple((a,) * p for p in prods)
    if isinstance(mult_arity, str | bytes) or not isinstance(mult_arity, Sequence):
        raise ValueError(f"mult_arity must be an int or a list, got {mult_arity!r}")
    items = list(mult_arity)
    if items and all(isinstance(v, Sequence) and not isinstance(v, str) for v in items):
        if len(items) == len(prods) - 1:  # the input level (never products) left out
            items = [[], *items]
        if len(items) != len(prods) or any(len(v) != p for v, p in zip(items, prods,
                                                                      strict=True)):
            raise ValueError(f"mult_arity {items} must list one arity per product node "
                             f"of each level ({prods})")
        return tuple(tuple(check(a) for a in v) for v in items)
    if len(items) != total:
        raise ValueError(f"mult_arity lists {len(items)} arities for {total} product nodes")
    out, pos = [], 0
    for p in prods:
        out.append(tuple(check(a) for a in items[pos:pos + p]))
        pos += p
    return tuple(out)


_ENTRY = re.compile(r"^\s*(\d+)\s*(?:\+\s*(\d+)\s*)?$")


def parse_width_text(text: str) -> list[WidthEntry]:
    """``"2,0+1,1"``, ``"2,[0,1],1"`` or ``"[2,[0,1],1]"`` -> ``[2, [0, 1], 1]``.

    Raises ValueError with a message a user can act on. Only the shape is checked here;
    :func:`parse_width` checks the counts.
    """
    text = str(text).strip()
    if not text:
        raise ValueError("width is empty: give node counts such as 2,5,1 or 2,0+1,1")
    if "[" in text:
        body = text if text.startswith("[") and _outer(text) else f"[{text}]"
        try:
            value = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"width {text!r} is not a list such as 2,[0,1],1") from exc
        if not isinstance(value, list):
            raise ValueError(f"width {text!r} is not a list such as 2,[0,1],1")
        return value
    out: list[WidthEntry] = []
    for part in text.split(","):
        match = _ENTRY.match(part)
        if match is None:
            raise ValueError(f"width entry {part.strip()!r} is not a count (5) or "
                             "sums+products (2+1)")
        s, p = match.groups()
        out.append([int(s), int(p)] if p is not None else int(s))
    return out


def _outer(text: str) -> bool:
    """Whether the first '[' of ``text`` closes at its last character (the whole width
    is bracketed, as in ``[2,[0,1],1]``, not ``[0,1],2``)."""
    depth = 0
    for pos, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if depth == 0:
            return pos == len(text) - 1
    return False


def format_width(notation: Sequence[WidthEntry]) -> str:
    """The shell-friendly text form: ``[2, [0, 1], 1]`` -> ``"2,0+1,1"``."""
    return ",".join(f"{e[0]}+{e[1]}" if isinstance(e, list | tuple) else str(e)
                    for e in notation)
