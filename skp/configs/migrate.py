"""`skp migrate CFG [--write]`: a seed-toolkit config rewritten in skp's names.

Only top-level statements `cfg.NAME = VALUE` are rewritten, each in place; everything
else in the file stays as written. Values that must be read to be translated (the
metadata columns, scheduler parameters) are translated when they are Python literals;
anything else is reported, with what to write by hand.
"""

from __future__ import annotations

import ast
import difflib
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from skp.configs.predecessor import COMPONENT_RENAMES, METRIC_RENAMES, VALUE_RENAMES

ONE_CYCLE_DIV_FACTOR = 25.0  # OneCycleLR's default: the first LR is max_lr / 25
EMBEDDING_NAMES = ("vars", "embed_num_classes", "embed_dim")


@dataclass
class Migration:
    source: str
    migrated: str
    changes: list[str] = field(default_factory=list)
    by_hand: list[str] = field(default_factory=list)

    def diff(self, path: str) -> str:
        return "".join(difflib.unified_diff(self.source.splitlines(True), self.migrated.splitlines(True), f"{path} (seed)", f"{path} (skp)"))


def _assignments(tree: ast.Module) -> dict[str, ast.Assign]:
    """The last top-level `cfg.NAME = ...` of each NAME."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "cfg":
                found[target.attr] = node
    return found


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


class _Rewriter:
    """Replacements of whole statements, applied bottom-up so line numbers stay valid."""

    def __init__(self, source: str):
        self.source = source
        self.lines = source.splitlines(True)
        self.edits: list[tuple[int, int, str]] = []

    def replace(self, node: ast.stmt, text: str) -> None:
        self.edits.append((node.lineno - 1, node.end_lineno, text))

    def text(self) -> str:
        lines = list(self.lines)
        for start, end, text in sorted(self.edits, reverse=True):
            lines[start:end] = [text] if text else []
        return "".join(lines)


def migrate_source(source: str) -> Migration:
    tree = ast.parse(source)
    cfg = _assignments(tree)
    out = _Rewriter(source)
    migration = Migration(source, source)
    _components(cfg, out, migration)
    _embeddings(cfg, out, migration)
    _iterations(cfg, out, migration)
    _scheduler(cfg, out, migration)
    _transforms(cfg, out, migration)
    if "load_pretrained" in cfg:
        node = cfg["load_pretrained"]
        out.replace(node, f"cfg.pretrained = {ast.get_source_segment(source, node.value)}\n")
        migration.changes.append("cfg.load_pretrained -> cfg.pretrained")
    migration.migrated = out.text()
    return migration


def _components(cfg, out: _Rewriter, migration: Migration) -> None:
    model = cfg.get("model")
    if model is not None and _literal(model.value) == "classification.net2d_var_embed":
        out.replace(model, 'cfg.model = "classification.net2d"\n')
        migration.changes.append("cfg.model 'classification.net2d_var_embed' -> 'classification.net2d' (with cfg.metadata_embeddings)")
    for name in ("dataset", "task", "loss"):
        node = cfg.get(name)
        value = _literal(node.value) if node is not None else None
        if value in COMPONENT_RENAMES:
            migration.by_hand.append(f"cfg.{name} {value!r}: {COMPONENT_RENAMES[value]}")
    metrics = cfg.get("metrics")
    if metrics is not None:
        values = _literal(metrics.value)
        if isinstance(values, (list, tuple)) and any(v in METRIC_RENAMES for v in values):
            renamed = [METRIC_RENAMES.get(v, v) for v in values]
            out.replace(metrics, f"cfg.metrics = {renamed!r}\n")
            migration.changes.append(f"cfg.metrics {list(values)!r} -> {renamed!r}")
        elif values is None:
            migration.by_hand.append("cfg.metrics is not a literal list: rename classification.MAE/MSE to regression.MAE/MSE in it")
    val_metric = cfg.get("val_metric")
    if val_metric is not None and _literal(val_metric.value) in VALUE_RENAMES:
        old = _literal(val_metric.value)
        out.replace(val_metric, f"cfg.val_metric = {VALUE_RENAMES[old]!r}\n")
        migration.changes.append(f"cfg.val_metric {old!r} -> {VALUE_RENAMES[old]!r}")


def _embeddings(cfg, out: _Rewriter, migration: Migration) -> None:
    present = [name for name in EMBEDDING_NAMES if name in cfg]
    if not present:
        return
    columns = _literal(cfg["vars"].value) if "vars" in cfg else None
    classes = _literal(cfg["embed_num_classes"].value) if "embed_num_classes" in cfg else None
    dim = _literal(cfg["embed_dim"].value) if "embed_dim" in cfg else None
    if isinstance(columns, str):
        columns = [columns]
    if isinstance(classes, int) and columns:
        classes = [classes] * len(columns)
    if not (isinstance(columns, (list, tuple)) and isinstance(classes, (list, tuple)) and len(columns) == len(classes)):
        migration.by_hand.append(
            "cfg.vars / cfg.embed_num_classes / cfg.embed_dim: write cfg.metadata_embeddings = {column: num_classes} "
            "and cfg.metadata_embedding_dim = dim (their values are not literal lists of the same length)"
        )
        return
    embeddings = dict(zip(columns, classes))
    lines = f"cfg.metadata_embeddings = {embeddings!r}\n" + (f"cfg.metadata_embedding_dim = {dim!r}\n" if dim is not None else "")
    first, *rest = sorted((cfg[name] for name in present), key=lambda node: node.lineno)
    out.replace(first, lines)
    for node in rest:
        out.replace(node, "")
    migration.changes.append(f"cfg.{' / cfg.'.join(present)} -> cfg.metadata_embeddings = {embeddings!r}" + (f", cfg.metadata_embedding_dim = {dim!r}" if dim is not None else ""))


def _iterations(cfg, out: _Rewriter, migration: Migration) -> None:
    node = cfg.get("num_iterations_per_epoch")
    if node is None:
        return
    iterations = ast.get_source_segment(out.source, node.value)
    # the seed counted batches; IterationBasedSampler counts samples
    out.replace(node, f'cfg.sampler = "IterationBasedSampler"\ncfg.sampler_params = {{"num_samples": ({iterations}) * cfg.batch_size}}\n')
    migration.changes.append(f"cfg.num_iterations_per_epoch {iterations} -> cfg.sampler 'IterationBasedSampler', num_samples {iterations} x cfg.batch_size")
    if "batch_size" not in cfg or cfg["batch_size"].lineno > node.lineno:
        migration.by_hand.append("cfg.sampler_params reads cfg.batch_size, which is set after it (or nowhere): move the sampler lines below cfg.batch_size")


def _scheduler(cfg, out: _Rewriter, migration: Migration) -> None:
    node = cfg.get("scheduler_params")
    if node is None:
        return
    params = _literal(node.value)
    seed_keys = {"pct_start", "div_factor", "final_div_factor"}
    if not isinstance(params, dict) or not seed_keys & set(params):
        if params is None and "pct_start" in ast.get_source_segment(out.source, node.value):
            migration.by_hand.append("cfg.scheduler_params is not a literal dict: translate pct_start, div_factor and final_div_factor by hand")
        return
    scheduler = cfg.get("scheduler")
    if scheduler is not None and _literal(scheduler.value) == "OneCycleLR":
        return  # OneCycleLR takes these names itself
    new = {k: v for k, v in params.items() if k not in seed_keys}
    if "pct_start" in params:
        new["warmup"] = params["pct_start"]
    if "final_div_factor" in params:
        # OneCycleLR ends at max_lr / (div_factor * final_div_factor)
        new["eta_min_ratio"] = 1.0 / (params.get("div_factor", ONE_CYCLE_DIV_FACTOR) * params["final_div_factor"])
    out.replace(node, f"cfg.scheduler_params = {new!r}\n")
    migration.changes.append(f"cfg.scheduler_params {params!r} -> {new!r} (LinearWarmupCosineAnnealingLR warms up from ~0; div_factor has no twin)")


def _transforms(cfg, out: _Rewriter, migration: Migration) -> None:
    for name in ("train_transforms", "val_transforms"):
        node = cfg.get(name)
        if node is None:
            continue
        expression = ast.get_source_segment(out.source, node.value)
        if expression is None or expression.strip() == "None":
            continue
        body = textwrap.indent(f"return {textwrap.dedent(expression)}", "    ")
        out.replace(node, f"@cfg.derived\ndef {name}(cfg):\n{body}\n")
        migration.changes.append(f"cfg.{name} (a plain value) -> @cfg.derived, so --image_height and --image_width reach it")


def migrate_file(path: Path) -> Migration:
    return migrate_source(path.read_text())
