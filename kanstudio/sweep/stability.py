"""How often each formula came out across seeds: the sweep's stability summary.

Rows are grouped by experiment (jobs that differ only in their seed); within a
group the rows' canonical formulas (``jobs.canonical_formula``, computed on the sympy object
in the worker) are counted. The most frequent verified formula comes first: a formula the
engine verified against the network beats a more frequent approximate one.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

__all__ = ["stability_summary", "format_summary", "GROUP_FIELDS"]

# What an experiment's summary repeats from its rows.
GROUP_FIELDS = ("dataset", "target", "width", "grid", "k", "steps", "lamb", "lib")


def stability_summary(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per experiment, in the order experiments first appear::

        {"dataset", "target", ..., "seeds": 8, "failed": 1, "formulas": [
            {"formula": "2*x + 1", "count": 6, "seeds": [0, 1, 3, 4, 6, 7],
             "verified": 6, "median_test_r2": 1.0}, ...]}

    ``count`` is how many seeds found the formula, ``verified`` how many of those the
    engine rated "verified". A row's target is the column its CSV actually used.
    """
    groups: dict[tuple, dict[str, Any]] = {}
    found: dict[tuple, dict[str, dict[str, Any]]] = {}
    for row in rows:
        key = row.get("experiment")
        group = groups.setdefault(key, {"experiment": key, **{f: None for f in GROUP_FIELDS},
                                        "seeds": 0, "failed": 0, "formulas": []})
        group["seeds"] += 1
        failed = not row.get("canonical")  # (a formula whose project was not saved counts)
        for name in GROUP_FIELDS:  # a successful row knows the target its CSV used
            if group[name] is None or (name == "target" and not failed):
                group[name] = row.get(name) if row.get(name) is not None else group[name]
        if failed:
            group["failed"] += 1
            continue
        entry = found.setdefault(key, {}).setdefault(row["canonical"], {
            "formula": row["canonical"], "count": 0, "seeds": [], "verified": 0,
            "test_r2": []})
        entry["count"] += 1
        entry["seeds"].append(row.get("seed"))
        entry["verified"] += row.get("status") == "verified"
        if row.get("test_r2") is not None:
            entry["test_r2"].append(row["test_r2"])
    for key, group in groups.items():
        entries = list(found.get(key, {}).values())
        for entry in entries:
            scores = entry.pop("test_r2")
            entry["median_test_r2"] = statistics.median(scores) if scores else None
            entry["seeds"].sort(key=lambda s: (s is None, s))
        entries.sort(key=lambda e: (e["verified"] == 0, -e["count"], -e["verified"],
                                    e["formula"]))
        group["formulas"] = entries
    return list(groups.values())


def format_summary(summary: list[dict[str, Any]]) -> str:
    """The summary as lines for a terminal."""
    lines = []
    for group in summary:
        settings = "  ".join(f"{name} {group[name]}" for name in ("width", "grid")
                             if group.get(name) is not None)
        failed = f", {group['failed']} failed" if group["failed"] else ""
        lines.append(f"{group['dataset']}: {group['target']}  {settings}  "
                     f"({group['seeds']} seed(s){failed})".replace("    ", "  "))
        for entry in group["formulas"]:
            r2 = entry["median_test_r2"]
            status = "verified" if entry["verified"] else ""
            lines.append(f"  {entry['count']}/{group['seeds']}  {status:8}  "
                         f"{group['target']} = {entry['formula']}"
                         + (f"   R² {r2:.6f}" if r2 is not None else ""))
    return "\n".join(lines)
