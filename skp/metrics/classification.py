"""Classification metrics on out["logits"] (B, K) and batch["y"] (B, T).

The problem type follows from the shapes: K == 1 is binary, K > 1 with one
target column is multi-class (class index), K == T > 1 is multi-label.
"""

import torch
import torch.nn.functional as F
from torchmetrics.functional import auroc, f1_score

from skp.metrics.base import CollectingMetric


def _problem(logits, targets):
    if logits.shape[1] == 1:
        return "binary", torch.sigmoid(logits[:, 0]), targets[:, 0].long()
    if targets.shape[1] == 1:
        return "multiclass", logits.softmax(1), targets[:, 0].long()
    return "multilabel", torch.sigmoid(logits), targets.long()


def _task_kwargs(problem, probs):
    if problem == "multiclass":
        return {"task": problem, "num_classes": probs.shape[1]}
    if problem == "multilabel":
        return {"task": problem, "num_labels": probs.shape[1]}
    return {"task": problem}


class Accuracy(CollectingMetric):
    def compute(self):
        problem, probs, target = _problem(*self.collected())
        predicted = probs.argmax(1) if problem == "multiclass" else (probs > 0.5).long()
        return {"accuracy": (predicted == target).float().mean()}


class AUROC(CollectingMetric):
    """Macro-averaged area under the ROC curve."""

    def compute(self):
        problem, probs, target = _problem(*self.collected())
        return {"auc": auroc(probs, target, average="macro", **_task_kwargs(problem, probs))}


class F1(CollectingMetric):
    """Macro-averaged F1 at argmax (multi-class) or 0.5 (binary, multi-label)."""

    def compute(self):
        problem, probs, target = _problem(*self.collected())
        return {"f1": f1_score(probs, target, average="macro", **_task_kwargs(problem, probs))}


class LogLoss(CollectingMetric):
    """Mean negative log-likelihood of the targets (lower is better): cross-entropy of the
    true class for multi-class, binary cross-entropy per label otherwise. Finer than
    accuracy where accuracy saturates, and the usual Kaggle metric for probabilities."""

    def compute(self):
        logits, targets = self.collected()
        if logits.shape[1] > 1 and targets.shape[1] == 1:
            return {"logloss": F.cross_entropy(logits, targets[:, 0].long())}
        return {"logloss": F.binary_cross_entropy_with_logits(logits, targets.view_as(logits))}
