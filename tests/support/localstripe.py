"""localstripe for the tests: a subprocess on a free port, flushed between tests.

Run as `python -m tests.support.localstripe PORT`, it is localstripe with its on-disk
state switched off: localstripe pickles its whole store to /tmp/localstripe.pickle on
every write, which would slow the suite down and overwrite the demo's state (`make run`
reloads that file) with test data.

The helpers below do in a test what Stripe.js does in the browser: turn a test card
number into a token or payment method, and complete a 3-D Secure step.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
PUBLISHABLE_KEY = "pk_test_localstripe"
SECRET_KEY = "sk_test_localstripe"

VISA = "4242424242424242"
DECLINED = "4000000000000002"  # localstripe declines it when attached to a customer
DECLINED_AT_CHARGE = "4000000000000341"  # attaches, then every charge is declined
THREE_D_SECURE = "4000002760003184"


class LocalStripe:
    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/")
        self.port = urlsplit(base_url).port
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"localstripe-test-{self.port}.log"
        self.http = requests.Session()

    def start(self, timeout: float = 20.0) -> bool:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.localstripe", str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                if self.http.get(f"{self.url}/js.stripe.com/v3/", timeout=1).ok:
                    return True
            except requests.ConnectionError:
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None
        self.http.close()

    def flush(self) -> None:
        self.http.delete(f"{self.url}/_config/data", timeout=5).raise_for_status()

    # What Stripe.js does in the browser

    def token(self, number: str = VISA) -> str:
        """localstripe's Stripe.js `createToken`: the card, with the publishable key."""
        card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        data = {f"card[{k}]": v for k, v in card.items()} | {"key": PUBLISHABLE_KEY}
        response = self.http.post(f"{self.url}/v1/tokens", data=data, timeout=5)
        response.raise_for_status()
        return response.json()["id"]

    def payment_method(self, number: str = VISA) -> str:
        """Stripe.js `createPaymentMethod`, made with the secret key since localstripe's
        Stripe.js does not implement it."""
        card = {"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"}
        data = {f"card[{k}]": v for k, v in card.items()} | {"type": "card"}
        response = self.http.post(
            f"{self.url}/v1/payment_methods", data=data, auth=(SECRET_KEY, ""), timeout=5
        )
        response.raise_for_status()
        return response.json()["id"]

    def authenticate(self, client_secret: str, *, success: bool = True) -> dict:
        """localstripe's Stripe.js `confirmCardPayment` after the 3-D Secure dialog."""
        intent_id = client_secret.split("_secret_")[0]
        response = self.http.post(
            f"{self.url}/v1/payment_intents/{intent_id}/_authenticate",
            params={"success": "true" if success else "false"},
            json={"key": PUBLISHABLE_KEY, "client_secret": client_secret},
            timeout=5,
        )
        response.raise_for_status()
        return response.json()

    def get(self, path: str, **params) -> dict:
        response = self.http.get(
            f"{self.url}{path}", params=params, auth=(SECRET_KEY, ""), timeout=5
        )
        response.raise_for_status()
        return response.json()


def main(port: str) -> None:
    import localstripe.resources as resources

    resources.Store.dump_to_disk = lambda self: None
    from localstripe.server import start

    sys.argv = ["localstripe", "--port", port, "--from-scratch"]
    start()


if __name__ == "__main__":
    main(sys.argv[1])
