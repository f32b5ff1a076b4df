"""The model that a running service serves, kept in one object so it can be replaced whole."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import recsys
from recsys import Recommender

__all__ = ["ServingModel", "load_serving_model"]

logger = logging.getLogger("recsys.service")


@dataclass(frozen=True, slots=True)
class ServingModel:
    """A loaded model with where and when it was loaded.

    The app keeps one instance in ``app.state.serving``. Handlers read that
    attribute once per request, so replacing the whole instance in one assignment
    (a hot reload) never mixes two models in one response.

    Attributes
    ----------
    model : Recommender
        The fitted model.
    model_dir : Path
        The directory it was loaded from.
    loaded_at : datetime
        When loading finished, UTC.
    """

    model: Recommender
    model_dir: Path
    loaded_at: datetime

    def describe(self) -> dict[str, Any]:
        """Return the model's version, class, fit time, load time and counts, for /readyz."""
        model = self.model
        return {
            "model_version": model.version_,
            "model_class": type(model).__name__,
            "fitted_at": model.fitted_at_,
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "counts": {
                "users": len(model.user_ids_),
                "items": len(model.item_ids_),
                "user_items_nonzeros": int(model.user_items_.nnz),
                "events": int(model.n_events_),
            },
        }


def load_serving_model(model_dir: Path) -> ServingModel:
    """Load the model directory ``model_dir`` and wrap it for serving.

    Raises
    ------
    recsys.ModelFormatError
        If the directory is missing, corrupt or written by an unsupported recsys.
        The message names the cause and the fix.
    """
    # load() cannot infer the class when none is expected, so the annotation names the base class.
    model: Recommender = recsys.load(model_dir)
    serving = ServingModel(model=model, model_dir=model_dir, loaded_at=datetime.now(UTC))
    logger.info(
        "serving %s version %s (fitted at %s) from %s",
        type(model).__name__,
        model.version_,
        model.fitted_at_,
        model_dir,
    )
    return serving
