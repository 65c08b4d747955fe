"""The portal plus one bare route, for side-by-side throughput in bench/lessons_page.py."""

from portal import create_app

app = create_app()


@app.get("/_bench/bare")
def bare():
    return "ok"
