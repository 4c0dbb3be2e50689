"""The application as each process of ``patron serve --workers N`` builds it.

With several server processes uvicorn starts each one from an import string, so the options
of ``patron serve`` reach them through the environment: the settings (``PATRON_*``, host and
port included) and whether to run the in-process job worker.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

IN_PROCESS_WORKER = "PATRON_SERVE_IN_PROCESS_WORKER"


def app() -> FastAPI:
    from patron.app import create_app
    from patron.config import get_settings

    return create_app(
        get_settings(), run_worker_in_process=os.environ.get(IN_PROCESS_WORKER) == "1"
    )
