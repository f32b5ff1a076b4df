"""Hot reload of the served model, on request and when its directory changes.

A reload loads the configured model directory beside the serving model, in a
worker thread, and then replaces ``app.state.serving`` in one assignment. Handlers
read that attribute once per request, so every response comes from one model,
the old or the new one. A directory that fails to load leaves the old model
serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from anyio import to_thread
from fastapi import FastAPI

from recsys.exceptions import ModelFormatError
from service.metrics import Metrics
from service.state import DirectoryFingerprint, ServingModel, fingerprint_model_dir, load_serving_model

__all__ = ["ModelReloadError", "ModelReloader", "ReloadResult", "model_reloading"]

logger = logging.getLogger("recsys.service")

Trigger = Literal["admin", "watcher"]


class ModelReloadError(ModelFormatError):
    """Raised when a reload cannot load the model directory; the previous model keeps serving.

    The message names the directory by its configured name only, never by its
    full path, so it can be sent to a client.
    """


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """Outcome of a successful reload.

    Attributes
    ----------
    previous_version : str or None
        Version of the model served before, None when none was.
    serving : ServingModel
        The model now served.
    reload_count : int
        Successful reloads of this app so far, this one included.
    """

    previous_version: str | None
    serving: ServingModel
    reload_count: int


class ModelReloader:
    """Reloads ``model_dir`` into a running app, one reload at a time.

    The app keeps one instance in ``app.state.reloader``. ``POST /v1/admin/reload``
    calls :meth:`reload`, and :func:`model_reloading` runs :meth:`watch` while the
    app runs.

    Parameters
    ----------
    model_dir : Path
        The configured model directory, usually a symlink to the current version.
    metrics : Metrics
        Counts reloads and failures and shows the served version.
    """

    def __init__(self, model_dir: Path, metrics: Metrics) -> None:
        self.model_dir = model_dir
        self.metrics = metrics
        self.reload_count = 0
        self._lock = asyncio.Lock()
        # The directory as it was at the last load attempt, successful or not. The
        # watcher loads again only when the directory differs from it, so a broken
        # directory is tried, and its failure logged, once per change.
        self._last_attempt: DirectoryFingerprint | None = None

    def start(self, serving: ServingModel) -> None:
        """Take ``serving``, loaded at startup, as the model to compare changes against."""
        self._last_attempt = serving.fingerprint or fingerprint_model_dir(self.model_dir)
        self.metrics.set_model(serving.model.version_, type(serving.model).__name__)

    async def reload(self, app: FastAPI, *, trigger: Trigger = "admin") -> ReloadResult:
        """Load the model directory again and serve it.

        Concurrent calls run one after the other, and each one loads the
        directory as it is when its turn comes.

        Raises
        ------
        ModelReloadError
            If the directory is missing, corrupt, unreadable or written by an
            unsupported recsys. The error is logged and counted, and the previous
            model keeps serving.
        """
        async with self._lock:
            return await self._reload_locked(app, trigger)

    async def _reload_locked(self, app: FastAPI, trigger: Trigger) -> ReloadResult:
        previous: ServingModel | None = app.state.serving
        previous_version = previous.model.version_ if previous is not None else None
        fingerprint = await to_thread.run_sync(fingerprint_model_dir, self.model_dir)
        self._last_attempt = fingerprint
        try:
            serving = await to_thread.run_sync(load_serving_model, self.model_dir)
        except (ModelFormatError, OSError) as error:
            self.metrics.reload_failures.inc()
            logger.error(
                "model reload (%s) from %s failed, version %s keeps serving: %s",
                trigger,
                fingerprint.target,
                previous_version,
                error,
            )
            message = _redact_paths(str(error), self.model_dir, fingerprint.target)
            raise ModelReloadError(
                f"cannot reload model directory {self.model_dir.name!r}: {message}; "
                f"version {previous_version} keeps serving"
            ) from error
        except Exception:
            self.metrics.reload_failures.inc()
            logger.exception(
                "model reload (%s) from %s failed unexpectedly, version %s keeps serving",
                trigger,
                fingerprint.target,
                previous_version,
            )
            raise

        # The single assignment that switches every later request to the new model.
        app.state.serving = serving
        self.reload_count += 1
        self._last_attempt = serving.fingerprint
        self.metrics.reloads.inc()
        self.metrics.set_model(serving.model.version_, type(serving.model).__name__)
        logger.info(
            "model reloaded (%s): version %s -> %s from %s",
            trigger,
            previous_version,
            serving.model.version_,
            serving.directory_name,
        )
        return ReloadResult(previous_version, serving, self.reload_count)

    async def check(self, app: FastAPI) -> bool:
        """Reload when the directory changed since the last load attempt; return whether it did."""
        if self._lock.locked():
            # A reload is running and will record the directory it loaded.
            return False
        fingerprint = await to_thread.run_sync(fingerprint_model_dir, self.model_dir)
        if fingerprint == self._last_attempt:
            return False
        logger.info("model directory %s changed, reloading", self.model_dir)
        try:
            await self.reload(app, trigger="watcher")
        except Exception:
            # reload() logged and counted the failure, and the watcher must keep running.
            return False
        return True

    async def watch(self, app: FastAPI, interval_s: float) -> None:
        """Call :meth:`check` every ``interval_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.check(app)
            except Exception:
                logger.exception(
                    "checking model directory %s failed; retrying in %s s", self.model_dir, interval_s
                )


@asynccontextmanager
async def model_reloading(app: FastAPI) -> AsyncIterator[None]:
    """Watch the model directory while the app serves; used by the app's lifespan.

    The app must already serve a model. The watcher runs only when
    ``settings.reload_interval_s`` is above 0, and stops when the block exits.
    """
    reloader: ModelReloader = app.state.reloader
    reloader.start(app.state.serving)
    interval_s: float = app.state.settings.reload_interval_s
    if interval_s <= 0:
        yield
        return

    task = asyncio.create_task(reloader.watch(app, interval_s), name="recsys-model-watcher")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def _redact_paths(message: str, model_dir: Path, target: str) -> str:
    """Replace the model directory's full paths in ``message`` with its configured name."""
    paths = {target, str(model_dir), os.path.abspath(model_dir)}
    # Longer paths first, so a path is not cut by a shorter one that is its prefix.
    for path in sorted(paths, key=len, reverse=True):
        if path and path != ".":
            message = message.replace(path, model_dir.name)
    return message
