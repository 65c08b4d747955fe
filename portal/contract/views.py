"""`GET /api/v1/openapi.json` (the document) and `GET /api/docs` (Redoc, served from
`static/vendor/` under the portal's CSP: no inline script, no CDN)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, render_template

from portal.config import ROOT
from portal.contract.document import build_document

bp = Blueprint("contract", __name__)

_EXTENSION = "openapi_document"
# The checked-in copy: a change of the contract is a visible change in review.
DOCUMENT_PATH = ROOT / "docs" / "openapi.json"


def document_json() -> str:
    """The document as the checked-in copy holds it: sorted keys, two-space indent."""
    app = current_app._get_current_object()
    if _EXTENSION not in app.extensions:
        text = json.dumps(build_document(app), indent=2, sort_keys=True, ensure_ascii=False)
        app.extensions[_EXTENSION] = text + "\n"
    return app.extensions[_EXTENSION]


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return Response(document_json(), mimetype="application/json")


@bp.get("/api/docs")
def docs():
    g.workers_from_blobs = True  # Redoc's search runs in a worker of its own
    return render_template("contract/docs.html")
