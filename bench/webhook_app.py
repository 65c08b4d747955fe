"""The portal plus one bare POST route, for side-by-side figures in bench/webhook_receive.py."""

from portal import create_app
from portal.security import csrf_exempt

app = create_app()


@app.post("/_bench/bare")
@csrf_exempt
def bare():
    return {"received": True}
