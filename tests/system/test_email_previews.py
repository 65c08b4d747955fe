"""Every e-mail from one layout, in HTML and text, each previewed on the admin's page."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from portal.extensions import db
from portal.models import User
from portal.system.email_previews import PREVIEWS

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "emails"
LAYOUT = {"layout", "_parts"}


def _messages() -> set[str]:
    return {p.stem for p in TEMPLATES.glob("*.html")} - LAYOUT


def test_every_message_has_both_parts_and_a_preview():
    names = _messages()
    assert names, "no e-mail templates found"
    for name in names:
        assert (TEMPLATES / f"{name}.txt").exists(), f"{name} has no plain-text part"
    previewed = {preview.template for preview in PREVIEWS.values()}
    assert names - previewed == set(), "messages without a preview"
    assert previewed - names == set(), "previews of missing templates"


def test_every_part_extends_the_layout():
    for name in _messages():
        for suffix in ("html", "txt"):
            text = (TEMPLATES / f"{name}.{suffix}").read_text()
            assert f'{{% extends "emails/layout.{suffix}" %}}' in text, f"{name}.{suffix}"


def test_admins_see_each_preview_and_nothing_is_written(app, login, admin):
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        index = browser.get("/admin/system/emails/")
        assert index.status_code == 200
        for name, preview in PREVIEWS.items():
            page = browser.get(f"/admin/system/emails/{name}")
            assert page.status_code == 200, name
            body = page.get_data(as_text=True)
            assert preview.title in body
            assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
            html = browser.get(f"/admin/system/emails/{name}/html")
            assert html.status_code == 200
            assert "frame-ancestors 'self'" in html.headers["Content-Security-Policy"]
            assert "script" not in html.headers["Content-Security-Policy"]
            assert "<!doctype html>" in html.get_data(as_text=True).lower()
            assert "M4SH" in html.get_data(as_text=True)
        assert browser.get("/admin/system/emails/nothing").status_code == 404
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == users


def test_other_pages_still_refuse_framing(app, login, admin):
    with app.app_context():
        browser = login(admin)
    with app.app_context():
        page = browser.get("/admin/system/")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "frame-src 'self'" not in page.headers["Content-Security-Policy"]


def test_students_and_tutors_cannot_preview(app, login, student, tutor):
    for user in (student, tutor):
        with app.app_context():
            browser = login(user)
        with app.app_context():
            answer = browser.get("/admin/system/emails/receipt")
        assert answer.status_code in (302, 403)
