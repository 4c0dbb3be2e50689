"""Copy the front-end libraries installed by npm into the static folder.

Run by ``make assets`` after ``npm ci``; the copies are git-ignored.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from patron.web.templating import STATIC_DIR

VENDOR_FILES: dict[str, str] = {
    "bootstrap/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "bootstrap/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
    "bootstrap-icons/font/bootstrap-icons.min.css": "bootstrap-icons/bootstrap-icons.min.css",
    "bootstrap-icons/font/fonts": "bootstrap-icons/fonts",
    "htmx.org/dist/htmx.min.js": "htmx/htmx.min.js",
    "chart.js/dist/chart.umd.min.js": "chart.js/chart.umd.min.js",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui/swagger-ui.css",
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
}


def copy_assets(node_modules: Path, target: Path = STATIC_DIR / "vendor") -> list[Path]:
    copied = []
    for source, destination in VENDOR_FILES.items():
        src = node_modules / source
        if not src.exists():
            raise SystemExit(f"missing {src}: run `npm ci` first")
        dst = target / destination
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        copied.append(dst)
    return copied


def assets_present(target: Path = STATIC_DIR / "vendor") -> bool:
    return all((target / destination).exists() for destination in VENDOR_FILES.values())


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd() / "node_modules"
    for path in copy_assets(root):
        print(f"copied {path.relative_to(STATIC_DIR)}")
