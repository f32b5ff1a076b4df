"""The model that a running service serves, kept in one object so it can be replaced whole."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import recsys
from recsys import Recommender
from recsys.persistence import MANIFEST

__all__ = ["DirectoryFingerprint", "ServingModel", "fingerprint_model_dir", "load_serving_model"]

logger = logging.getLogger("recsys.service")


class DirectoryFingerprint(NamedTuple):
    """Identity of one version of a model directory, compared to detect a new model.

    Saving a model writes a new manifest file (``model.save()`` swaps in a new
    directory), and switching a symlink changes ``target``, so either changes the
    fingerprint. The manifest fields are None when the manifest cannot be read.

    Attributes
    ----------
    target : str
        The directory with every symlink resolved.
    manifest_inode : int or None
        Inode number of ``manifest.json``.
    manifest_mtime_ns : int or None
        Modification time of ``manifest.json``, in nanoseconds.
    manifest_size : int or None
        Size of ``manifest.json``, in bytes.
    """

    target: str
    manifest_inode: int | None
    manifest_mtime_ns: int | None
    manifest_size: int | None


def fingerprint_model_dir(model_dir: Path) -> DirectoryFingerprint:
    """Resolve ``model_dir`` and read the identity of its manifest file; never raises OSError."""
    target = os.path.realpath(model_dir)
    try:
        stat = os.stat(os.path.join(target, MANIFEST))
    except OSError:
        return DirectoryFingerprint(target, None, None, None)
    return DirectoryFingerprint(target, stat.st_ino, stat.st_mtime_ns, stat.st_size)


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
        The configured directory, which may be a symlink.
    loaded_at : datetime
        When loading finished, UTC.
    fingerprint : DirectoryFingerprint or None
        The directory as it was just before loading. Its ``target`` is the
        directory the files were read from, with every symlink resolved. None
        for a model that was not loaded by :func:`load_serving_model`.
    """

    model: Recommender
    model_dir: Path
    loaded_at: datetime
    fingerprint: DirectoryFingerprint | None = None

    @property
    def directory_name(self) -> str:
        """Name, without its parents, of the directory the files were read from (symlinks resolved)."""
        if self.fingerprint is None:
            return self.model_dir.name
        return Path(self.fingerprint.target).name

    def describe(self) -> dict[str, Any]:
        """Return the model's version, class, directory name, fit and load times and counts, for /readyz."""
        model = self.model
        return {
            "model_version": model.version_,
            "model_class": type(model).__name__,
            "model_dir": self.directory_name,
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

    A symlink is resolved once, before loading, and every file is read from that
    target, so switching the symlink during a load cannot mix two models.

    Raises
    ------
    recsys.ModelFormatError
        If the directory is missing, corrupt or written by an unsupported recsys.
        The message names the cause and the fix.
    """
    fingerprint = fingerprint_model_dir(model_dir)
    # load() cannot infer the class when none is expected, so the annotation names the base class.
    model: Recommender = recsys.load(fingerprint.target)
    serving = ServingModel(
        model=model, model_dir=model_dir, loaded_at=datetime.now(UTC), fingerprint=fingerprint
    )
    logger.info(
        "serving %s version %s (fitted at %s) from %s (resolved to %s)",
        type(model).__name__,
        model.version_,
        model.fitted_at_,
        model_dir,
        fingerprint.target,
    )
    return serving
