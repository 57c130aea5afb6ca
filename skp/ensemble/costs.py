"""What each member costs at inference: seconds per image, measured where it predicted.

A member's test prediction is, for every TTA view, one pass over the test images (read,
decode, transform: "load") through each of its fold checkpoints (or their soup): "model",
per checkpoint. Both are measured once, when the prediction is computed (the median
batch's seconds per image), and kept with it in the prediction cache, so a later command
reports them without predicting again. Costs measured while the machine was busy, or on
another device than the one that will predict, are timed again by `skp-ensemble
--remeasure-costs` (ten batches per model and view; predictions stay as cached).
Predictions cached by a version of skp that did not measure have no cost ("not measured").
"""

from __future__ import annotations

import statistics


def member_cost(views: dict | None) -> dict | None:
    """{view: [cost of each checkpoint group]} -> seconds per image: load and models of
    every view, their total, and where they were measured; None when any is unknown."""
    if not views or any(cost is None for groups in views.values() for cost in groups):
        return None
    per_view = {}
    for view, groups in views.items():
        load = statistics.fmean(g["load"] for g in groups)  # one pass per view; groups computed apart differ slightly
        per_view[view] = {"load": load, "models": [g["model"] for g in groups]}
    total = sum(v["load"] + sum(v["models"]) for v in per_view.values())
    devices = sorted({g["device"] for groups in views.values() for g in groups})
    return {"views": per_view, "seconds_per_image": total, "device": ", ".join(devices)}


def cost_rows(summary: dict) -> list[tuple[str, str, str, str, str]]:
    """(member, views x checkpoints, load ms/image, models ms/image, s per 1000 images) for
    each member, and the total; empty when no member has a cost."""
    costs = [row.get("cost") for row in summary["members"]]
    if not any(costs):
        return []
    rows, total = [], 0.0
    for row, cost in zip(summary["members"], costs):
        if cost is None:
            rows.append((row["name"], "", "", "", "not measured"))
            continue
        views = cost["views"]
        checkpoints = len(next(iter(views.values()))["models"])
        load = sum(v["load"] for v in views.values())
        models = sum(sum(v["models"]) for v in views.values())
        total += cost["seconds_per_image"]
        rows.append((row["name"], f"{len(views)} x {checkpoints}", f"{1000 * load:.2f}", f"{1000 * models:.2f}", f"{1000 * cost['seconds_per_image']:.1f}"))
    measured = " (measured members)" if any(c is None for c in costs) else ""
    rows.append((f"all members{measured}", "", "", "", f"{1000 * total:.1f}"))
    return rows
