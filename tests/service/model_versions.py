"""Two versions of the retail model and the symlink switch that deploys one of them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import recsys
from tests.service.sample_data import RETAIL_BASKETS, purchase_events

# Version B: two more buyers of mug and zzz, so a basket of mug gets zzz in B
# but never in A (mug and zzz share no buyer there).
RETAIL_BASKETS_B: dict[str, list[str]] = {**RETAIL_BASKETS, "u5": ["mug", "zzz"], "u6": ["mug", "zzz"]}


def save_model_b(path: Path) -> Path:
    """Fit and save version B of the retail model to ``path``."""
    recsys.ItemKNN().fit(purchase_events(RETAIL_BASKETS_B)).save(path)
    return path


def save_incompatible_model(source: Path, path: Path) -> Path:
    """Copy the model in ``source`` to ``path`` with a format version no recsys reads yet."""
    recsys.load(source).save(path)
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


def deploy(link: Path, target: Path) -> None:
    """Point the symlink ``link`` at ``target`` in one rename, as the README shows.

    Some ``ln`` versions delete the old link before they create the new one, so a
    reader could find no link in between. Renaming a new link over it leaves no gap.
    """
    staged = link.with_name(f".{link.name}.next")
    subprocess.run(["ln", "-sfn", str(target), str(staged)], check=True)
    subprocess.run(["mv", "-T", str(staged), str(link)], check=True)
