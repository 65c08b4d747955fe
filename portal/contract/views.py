"""`GET /api/v1/openapi.json` (the document) and `GET /api/docs` (Redoc, served from
`static/vendor/` under the portal's CSP: no inline script, no CDN)."""

from __future__ import annotations

from flask import Blueprint, Response, g, render_template

from portal.contract.document import document_json

bp = Blueprint("contract", __name__)


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return Response(document_json(), mimetype="application/json")


@bp.get("/api/docs")
def docs():
    g.workers_from_blobs = True  # Redoc's search runs in a worker of its own
    return render_template("contract/docs.html")
