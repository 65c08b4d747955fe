import pytest


@pytest.fixture
def other_app(app):
    """`other_app(**settings)` → a second app with the suite's settings changed; the
    suite's Celery app is made current again afterwards (a new one takes over)."""
    from portal import create_app
    from portal.extensions import db

    made = []

    def _make(**settings):
        made.append(create_app({**app.config, **settings}))
        return made[-1]

    yield _make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()
