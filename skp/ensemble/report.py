"""The ensemble report: a table on the terminal, report.md and report.png (scores, correlations)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skp.ensemble.costs import cost_rows
from skp.files import write_text


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


def print_table(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    metric = summary["metric"]
    has_test = summary["blend"]["test"] is not None
    table = Table(title=f"{summary['recipe']}: blend {summary['method']}, {metric} ({summary['direction']})")
    for column in ["member", "weight", f"OOF {metric}"] + ([f"test {metric}"] if has_test else []):
        table.add_column(column, justify="left" if column == "member" else "right")
    for row in summary["members"]:
        table.add_row(row["name"], _fmt(row["weight"]), _fmt(row["oof"]), *([_fmt(row["test"])] if has_test else []))
    blend = summary["blend"]
    table.add_row("blend (fitted on all OOF)", "", _fmt(blend["oof"]), *([_fmt(blend["test"])] if has_test else []))
    table.add_row("blend (cross-validated)", "", _fmt(blend["oof_cross_validated"]), *([""] if has_test else []))
    Console().print(table)
    print(f"gain over the best member ({summary['best_member']}): {blend['gain_over_best_member']:+.4f} (cross-validated OOF; positive is better)")
    if blend.get("expected_on_test"):
        print(expected_on_test(blend))
    if summary.get("auto"):
        Console().print(candidates_table(summary))
        print(auto_verdict(summary))
    costs = cost_rows(summary)
    if costs:
        Console().print(costs_table(summary, costs))
    if summary.get("budget"):
        Console().print(budget_table(summary))
        print(budget_verdict(summary))
    if summary.get("distil"):
        Console().print(distil_table(summary))
        print(distil_verdict(summary))


def budget_columns(summary: dict) -> tuple[str, ...]:
    expected = ("expected on test",) if summary["budget"]["chosen"].get("expected") is not None else ()
    return ("members", "views", "checkpoints", "seconds", "OOF score of their mean", *expected)


def budget_rows(summary: dict) -> list[tuple[str, ...]]:
    """The cheapest candidate for each value it reaches (the trade-off), the chosen one starred."""
    from skp.ensemble.budget import pareto

    chosen = summary["budget"]["chosen"]
    has_expected = chosen.get("expected") is not None
    rows = []
    for c in pareto(summary["budget"], summary["direction"]):
        star = "*" if (c["members"], c["views"], c["checkpoints"]) == (chosen["members"], len(chosen["views"]), chosen["checkpoints"]) else ""
        scores = (f"{c['score']:.4f}", f"{c['expected']:.4f}{star}") if has_expected else (f"{c['score']:.4f}{star}",)
        rows.append((", ".join(c["members"]), str(c["views"]), str(c["checkpoints"]), f"{c['seconds']:.2f}", *scores))
    return rows


def budget_table(summary: dict):
    from rich.table import Table

    budget = summary["budget"]
    table = Table(title=f"inference budget {budget['seconds']:g} s on {budget['images']} images: the trade-off (* chosen)",
                  caption=f"{len(budget['candidates'])} candidates weighed; views: the first V of {', '.join(summary['tta'])}")
    for column in budget_columns(summary):
        table.add_column(column, justify="left" if column == "members" else "right")
    for row in budget_rows(summary):
        table.add_row(*row)
    return table


def budget_verdict(summary: dict) -> str:
    chosen = summary["budget"]["chosen"]
    return (f"the budget chose {', '.join(chosen['members'])} with {len(chosen['views'])} view(s) ({', '.join(chosen['views'])}) "
            f"and {chosen['checkpoints']} fold checkpoint(s) each: about {chosen['seconds']:.2f} s of {summary['budget']['seconds']:g}; "
            f"the blend ran on these{_within_budget_hint(summary['budget'])}")


def _within_budget_hint(budget: dict) -> str:
    recipe = budget.get("recipe")
    return f". `skp-ensemble {recipe}` predicts only them: the same submission, within the budget" if recipe else ""


def write_budget_figure(path: Path, summary: dict) -> None:
    """Score against inference seconds of every candidate, the trade-off line, the choice and the budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skp.ensemble.budget import pareto, weighed

    budget = summary["budget"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seconds = [c["seconds"] for c in budget["candidates"]]
    ax.scatter(seconds, [weighed(c) for c in budget["candidates"]], s=14, color="0.4", label="candidates within the budget")
    over = budget.get("over_budget") or []
    if over:
        ax.scatter([c["seconds"] for c in over], [weighed(c) for c in over], s=14, color="0.8", label="over the budget")
    front = pareto(budget, summary["direction"])
    ax.step([c["seconds"] for c in front], [weighed(c) for c in front], where="post", color="tab:blue", label="best within its cost")
    chosen = budget["chosen"]
    ax.scatter([chosen["seconds"]], [weighed(chosen)], marker="*", s=220, color="tab:red", zorder=3, label="chosen")
    ax.axvline(budget["seconds"], color="tab:red", linestyle="--", linewidth=1, label=f"budget {budget['seconds']:g} s")
    ax.set_xlabel(f"inference seconds on {budget['images']} test images")
    what = "expected test" if chosen.get("expected") is not None else "OOF"
    ax.set_ylabel(f"{what} {summary['metric']} of the plain mean")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


COST_COLUMNS = ("member", "views x checkpoints", "load ms/image", "models ms/image", "s per 1000 images")


def costs_table(summary: dict, rows):
    from rich.table import Table

    table = Table(title="inference cost", caption=cost_caption(summary))
    for column in COST_COLUMNS:
        table.add_column(column, justify="left" if column == "member" else "right")
    for row in rows:
        table.add_row(*row)
    return table


def cost_caption(summary: dict) -> str:
    measured = [m["cost"] for m in summary["members"] if m.get("cost")]
    devices = sorted({cost["device"] for cost in measured})
    seconds = sum(cost["seconds_per_image"] for cost in measured) * summary.get("test_images", 0)
    return f"measured on {', '.join(devices)}; this test set ({summary.get('test_images', 0)} images): about {seconds:.1f} s"


DISTIL_COLUMNS = ("model", "CV", "test", "s per 1000 images")


def _per_thousand(costs: list) -> str:
    return "" if not costs or None in costs else f"{1000 * sum(c['seconds_per_image'] for c in costs):.1f}"


def distil_columns(summary: dict) -> tuple[str, ...]:
    """DISTIL_COLUMNS, without test where there are no test labels."""
    return DISTIL_COLUMNS if summary["blend"]["test"] is not None else tuple(c for c in DISTIL_COLUMNS if c != "test")


def distil_rows(summary: dict) -> list[tuple[str, ...]]:
    """The teacher (the blend), the best member and the student: CV, test (when labels
    exist), inference cost."""
    distil, blend = summary["distil"], summary["blend"]
    rows_by_name = {row["name"]: row for row in summary["members"]}
    teacher = distil["teacher_blend"]
    best, student = rows_by_name[summary["best_member"]], distil["student"]
    honest = "" if distil["cv_is_honest"] else " (optimistic)"
    rows = [
        (f"teacher: {summary['method']} ({len(teacher['members'])} member{'s' if len(teacher['members']) > 1 else ''})", _fmt(blend["oof_cross_validated"]), _fmt(blend["test"]),
         _per_thousand([rows_by_name[name].get("cost") for name in teacher["members"]])),
        (f"best member: {best['name']}", _fmt(best["oof"]), _fmt(best["test"]), _per_thousand([best.get("cost")])),
        (f"student: {student['name']}", _fmt(student["oof"]) + honest, _fmt(student["test"]), _per_thousand([student.get("cost")])),
    ]
    return rows if blend["test"] is not None else [row[:2] + row[3:] for row in rows]


def distil_verdict(summary: dict) -> str:
    distil = summary["distil"]
    closed = distil["gap_closed"]
    parts = [f"{which} {100 * closed[which]:.0f}%" for which in ("oof", "test") if closed[which] is not None]
    gap = ("of the gap from the best member to the blend the student closes: " + ", ".join(parts)) if parts else "the blend does not beat its best member, so there is no gap to close"
    if distil["cv_is_honest"]:
        why = "its CV is honest: fold k's targets came from the fold-k checkpoints, which never saw fold k"
    else:
        why = "its CV is optimistic: the blend's OOF predictions it learned from came from models that saw each fold's labels; judge it on test labels"
    run = distil["run"]
    return f"{gap}; {why}. As a member: Run({run['config']!r}, run_id={run['run_id']!r})"


def distil_table(summary: dict):
    from rich.table import Table

    distil = summary["distil"]
    table = Table(title=f"distillation: {distil['config']} (temperature {distil['temperature']:g}, weight {distil['weight']:g}, teacher={distil['teacher']})")
    for column in distil_columns(summary):
        table.add_column(column, justify="left" if column == "model" else "right")
    for row in distil_rows(summary):
        table.add_row(*row)
    return table


def candidates_table(summary: dict):
    """auto's candidates: one row per method, one column per number of members kept (best first)."""
    from rich.table import Table

    widths, rows = _candidate_grid(summary["auto"])
    table = Table(title=f"auto's candidates: {_grid_values(summary)}", caption="top k: the k members best by OOF")
    table.add_column("method")
    for k in widths:
        table.add_column(f"top {k}", justify="right")
    for method, row in rows:
        table.add_row(method, *row)
    return table


def _candidate_grid(choice: dict) -> tuple[list[int], list[tuple[str, list[str]]]]:
    """(numbers of members kept, [(method, its formatted scores, the chosen one starred)])."""
    widths = sorted({c["members"] for c in choice["candidates"]})
    cells = {(c["method"], c["members"]): c for c in choice["candidates"]}
    rows = []
    for method in dict.fromkeys(c["method"] for c in choice["candidates"]):
        row = []
        for k in widths:
            cell = cells.get((method, k))
            mark = "*" if (method, k) == (choice["method"], choice["members"]) else ""
            expected = f" ({cell['expected']:.4f})" if cell and "expected" in cell else ""
            row.append("" if cell is None else f"{cell['cv']:.4f}{expected}{mark}")
        rows.append((method, row))
    return widths, rows


def _grid_values(summary: dict) -> str:
    if summary["auto"].get("by") == "expected":
        return (f"cross-validated OOF {summary['metric']} (in brackets: expected on test, CV less what averaging "
                f"each member's fold models buys there)")
    return f"cross-validated OOF {summary['metric']}"


def expected_on_test(blend: dict) -> str:
    estimate = blend["expected_on_test"]
    return (
        f"Expected on test: {estimate['expected_test_gain']:+.4f} over the best member. CV scores one model per row; on "
        f"test each member is the mean of its {estimate['checkpoints']} fold models, an ensemble already, which lowers "
        f"the best member's log loss by about {estimate['pooling_gain_best_member']:.4f} and the blend's by "
        f"{estimate['pooling_gain_blend']:.4f} (estimated from the test predictions, without labels: skp.ensemble.fold_pooling)."
    )


def auto_verdict(summary: dict) -> str:
    choice = summary["auto"]
    gain = choice["gain_over_best_member"]
    folds = len(gain["fold_gains"])
    if choice["method"] == "best member":
        by = "is expected to score better on test" if choice.get("by") == "expected" else f"scored better on cross-validated OOF {summary['metric']}"
        return f"auto chose the best member alone ({summary['best_member']}): no blend of the top members {by}."
    better = sum(g > 0 for g in gain["fold_gains"])
    verdict = "beyond" if gain["beyond_noise"] else "inside"
    rule = (", the best expected test score among the candidates no worse than the best member on CV"
            if choice.get("by") == "expected" else "")
    return (f"auto chose {choice['method']} of the top {choice['members']} (* above){rule}. Fold by fold it beats the best "
            f"member by {gain['mean']:+.4f} ± {gain['standard_error']:.4f} (mean ± standard error over {folds} folds; "
            f"better on {better} of {folds}): {verdict} the fold-to-fold noise (2 standard errors). The chosen score "
            f"is the best of {len(choice['candidates'])} candidates, so slightly optimistic.")


def correlations(oofs) -> np.ndarray:
    return np.atleast_2d(np.corrcoef(np.stack([oof.ravel() for oof in oofs])))


def write_figure(path: Path, summary: dict, names: list[str], matrix: np.ndarray) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (scores_ax, corr_ax) = plt.subplots(1, 2, figsize=(13, 0.5 * len(names) + 3.5))
    labels = names + ["blend"]
    oof = [r["oof"] for r in summary["members"]] + [summary["blend"]["oof_cross_validated"]]
    y = np.arange(len(labels))
    has_test = summary["blend"]["test"] is not None
    height = 0.4 if has_test else 0.8
    scores_ax.barh(y, oof, height=height, label="OOF (blend: cross-validated)")
    if has_test:
        test = [r["test"] for r in summary["members"]] + [summary["blend"]["test"]]
        scores_ax.barh(y + height, test, height=height, label="test")
    low = min(oof + (test if has_test else []))
    high = max(oof + (test if has_test else []))
    margin = (high - low) * 0.5 or abs(high) * 0.01 or 0.01
    scores_ax.set_xlim(low - margin, high + margin)
    scores_ax.set_yticks(y + (height / 2 if has_test else 0), labels, fontsize=8)
    scores_ax.set_xlabel(summary["metric"])
    scores_ax.set_title(f"blend ({summary['method']}) vs members")
    scores_ax.legend(loc="lower right", fontsize=8)
    # members of one data set correlate at 0.95+; a 0..1 scale would show one colour
    image = corr_ax.imshow(matrix, vmin=min(matrix.min(), 0.99), vmax=1.0, cmap="viridis")
    corr_ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    corr_ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            corr_ax.text(j, i, f"{matrix[i, j]:.3f}", ha="center", va="center", color="black", fontsize=7,
                         bbox={"facecolor": "white", "alpha": 0.6, "linewidth": 0})
    corr_ax.set_title("OOF prediction correlation")
    fig.colorbar(image, ax=corr_ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(summary: dict, names: list[str], matrix: np.ndarray) -> str:
    metric, blend = summary["metric"], summary["blend"]
    has_test = blend["test"] is not None
    lines = [
        f"# {summary['recipe']}",
        "",
        f"Blend {summary['method']} of {len(names)} members on folds {summary['folds']}, "
        f"scored by {metric} ({summary['direction']}); TTA views: {', '.join(summary['tta'])}.",
        "",
        f"| member | source | weight | OOF {metric} |" + (f" test {metric} |" if has_test else ""),
        "|---|---|---|---|" + ("---|" if has_test else ""),
    ]
    for row in summary["members"]:
        lines.append(
            f"| {row['name']} | {row['source']} | {_fmt(row['weight'])} | {_fmt(row['oof'])} |"
            + (f" {_fmt(row['test'])} |" if has_test else "")
        )
    lines.append(f"| **blend**, fitted on all OOF | | | {_fmt(blend['oof'])} |" + (f" {_fmt(blend['test'])} |" if has_test else ""))
    lines.append(f"| **blend**, cross-validated | | | {_fmt(blend['oof_cross_validated'])} |" + (" |" if has_test else ""))
    lines += [
        "",
        f"Gain over the best member ({summary['best_member']}): {blend['gain_over_best_member']:+.4f} "
        f"(cross-validated: each fold blended with weights fitted on the other folds; positive "
        f"is better, whatever the metric's direction).",
        "",
        *([expected_on_test(blend), ""] if blend.get("expected_on_test") else []),
        *_auto_markdown(summary),
        *_cost_markdown(summary),
        *_budget_markdown(summary),
        *_distil_markdown(summary),
        "![scores and correlations](report.png)",
        "",
        "OOF prediction correlation:",
        "",
        "| | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for i, name in enumerate(names):
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in matrix[i]) + " |")
    return "\n".join(lines) + "\n"


def _auto_markdown(summary: dict) -> list[str]:
    if not summary.get("auto"):
        return []
    widths, rows = _candidate_grid(summary["auto"])
    lines = [
        f"## auto: {_grid_values(summary)} of each candidate (* chosen)",
        "",
        "| method | " + " | ".join(f"top {k}" for k in widths) + " |",
        "|---|" + "---|" * len(widths),
    ]
    lines += [f"| {method} | " + " | ".join(row) + " |" for method, row in rows]
    return lines + ["", auto_verdict(summary), ""]


def _cost_markdown(summary: dict) -> list[str]:
    rows = cost_rows(summary)
    if not rows:
        return []
    lines = ["## Inference cost", "", "| " + " | ".join(COST_COLUMNS) + " |", "|---|" + "---|" * (len(COST_COLUMNS) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + ["", cost_caption(summary) + ".", ""]


def _budget_markdown(summary: dict) -> list[str]:
    if not summary.get("budget"):
        return []
    budget = summary["budget"]
    lines = [f"## Inference budget: {budget['seconds']:g} s on {budget['images']} test images", "",
             "The cheapest candidate for each value it reaches (* chosen):", "",
             "| " + " | ".join(budget_columns(summary)) + " |", "|---|" + "---|" * (len(budget_columns(summary)) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in budget_rows(summary)]
    return lines + ["", budget_verdict(summary) + ".", "", "![score against inference seconds](budget.png)", ""]


def _distil_markdown(summary: dict) -> list[str]:
    if not summary.get("distil"):
        return []
    distil = summary["distil"]
    lines = [f"## Distilled student: {distil['config']}", "",
             f"Trained on every fold against the blend's predictions (temperature {distil['temperature']:g}, "
             f"weight {distil['weight']:g} on them, the rest on the labels; teacher={distil['teacher']}"
             f"{'; with the test images, pseudo-labelled' if distil.get('pseudo_labels') else ''}). "
             f"Teacher tables: {distil['teacher_dir']}.", "",
             "| " + " | ".join(distil_columns(summary)) + " |", "|---|" + "---|" * (len(distil_columns(summary)) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in distil_rows(summary)]
    return lines + ["", distil_verdict(summary) + ".", ""]


def write_report(folder: Path, summary: dict, names: list[str], oofs: list[np.ndarray]) -> None:
    matrix = correlations(oofs)
    write_text(folder / "report.md", markdown(summary, names, matrix))
    if summary.get("budget"):
        write_budget_figure(folder / "budget.png", summary)
    if len(names) > 1:
        write_figure(folder / "report.png", summary, names, matrix)
