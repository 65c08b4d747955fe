"""The payment provider interface the services use, its result types and its errors.

Services never see a provider library's objects: every call answers one of the small
frozen records below, and every failure is one of the errors below, split the way the
user experiences it (django-oscar's habit):

- `CardDeclined` — the user's card was refused; the message is the provider's own and is
  shown as is ("Your card was declined.").
- `ProviderUnavailable` — the provider could not be reached, timed out or rate-limited
  us; nothing is known to have happened, so the user is asked to try again.
- `ProviderRejected` — the provider refused the request for a reason that is not the
  user's card (a bad id, a state the object cannot leave, a misconfiguration).
- `ProviderObjectMissing` — the id does not exist at the provider.

Every call that creates something takes an `idempotency_key`, which the caller stores
(or derives from stored rows) before the call, so a retry can never create twice.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from portal.errors import GatewayError, ValidationError


class CardDeclined(ValidationError):
    code = "card_declined"

    def __init__(self, message: str, *, decline_code: str | None = None) -> None:
        super().__init__(message or "Your card was declined.")
        self.decline_code = decline_code or "card_declined"


class ProviderUnavailable(GatewayError):
    retryable = True

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "The payment service is not answering right now. Nothing was charged; "
            "please try again in a minute."
        )


class ProviderRejected(GatewayError):
    code = "provider_rejected"
    retryable = False

    def __init__(self, message: str, *, provider_code: str | None = None) -> None:
        super().__init__(message)
        self.provider_code = provider_code


class ProviderObjectMissing(ProviderRejected):
    code = "provider_object_missing"


@dataclass(frozen=True)
class ProviderIntent:
    """A payment intent as the services need it."""

    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None = None
    customer: str | None = None
    payment_method: str | None = None
    latest_charge: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def needs_action(self) -> bool:
        return self.status == "requires_action"


@dataclass(frozen=True)
class ProviderCard:
    """A saved card: only what may be shown, never the number or CVC."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer: str | None = None


@dataclass(frozen=True)
class ProviderSetupIntent:
    id: str
    status: str
    client_secret: str | None
    customer: str | None
    payment_method: str | None


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    amount: int
    currency: str
    status: str
    payment_intent: str | None = None
    charge: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderCheckoutSession:
    id: str
    mode: str
    status: str
    payment_status: str
    url: str | None
    customer: str | None
    client_reference_id: str | None
    payment_intent: str | None
    subscription: str | None
    amount_total: int | None
    currency: str | None
    expires_at: int | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def is_paid(self) -> bool:
        return self.status == "complete" and self.payment_status == "paid"


@dataclass(frozen=True)
class ProviderTransfer:
    id: str
    amount: int
    currency: str
    destination: str
    reversed: bool = False
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderPrice:
    """A plan's recurring price at the provider and the product it is the price of."""

    product_id: str
    price_id: str


@dataclass(frozen=True)
class CheckoutLine:
    """One line of a Checkout Session: either a stored price or an ad-hoc amount."""

    quantity: int = 1
    price_id: str | None = None
    name: str | None = None
    amount: int | None = None
    currency: str | None = None


class PaymentProvider(abc.ABC):
    """What the payment, subscription and payout services ask of a payment provider."""

    name: str

    # Plans: a product and its recurring price (a price never changes; a new one is new)
    @abc.abstractmethod
    def create_recurring_price(
        self,
        *,
        name: str,
        amount: int,
        currency: str,
        interval: str,
        idempotency_key: str,
        metadata: dict | None = None,
    ) -> ProviderPrice: ...

    # Customers
    @abc.abstractmethod
    def create_customer(
        self, *, email: str, name: str, idempotency_key: str, metadata: dict | None = None
    ) -> str: ...

    @abc.abstractmethod
    def set_default_payment_method(self, customer: str, method_id: str) -> None: ...

    # Payment intents
    @abc.abstractmethod
    def create_payment_intent(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        idempotency_key: str,
        payment_method: str | None = None,
        metadata: dict | None = None,
    ) -> ProviderIntent: ...

    @abc.abstractmethod
    def retrieve_payment_intent(self, intent_id: str) -> ProviderIntent: ...

    @abc.abstractmethod
    def update_payment_method(self, intent_id: str, *, payment_method: str) -> ProviderIntent: ...

    @abc.abstractmethod
    def confirm_payment_intent(
        self, intent_id: str, *, payment_method: str | None = None
    ) -> ProviderIntent: ...

    @abc.abstractmethod
    def cancel_payment_intent(self, intent_id: str) -> ProviderIntent: ...

    # Setup intents and saved cards
    @abc.abstractmethod
    def create_setup_intent(
        self, *, customer: str, idempotency_key: str
    ) -> ProviderSetupIntent: ...

    @abc.abstractmethod
    def retrieve_setup_intent(self, setup_intent_id: str) -> ProviderSetupIntent: ...

    @abc.abstractmethod
    def attach_payment_method(
        self, method_id: str, *, customer: str, idempotency_key: str
    ) -> ProviderCard: ...

    @abc.abstractmethod
    def detach_payment_method(self, method_id: str, *, customer: str) -> None: ...

    @abc.abstractmethod
    def list_payment_methods(self, customer: str) -> list[ProviderCard]: ...

    # Refunds
    @abc.abstractmethod
    def create_refund(
        self,
        *,
        payment_intent: str,
        amount: int,
        idempotency_key: str,
        metadata: dict | None = None,
    ) -> ProviderRefund: ...

    @abc.abstractmethod
    def list_refunds(self, payment_intent: str) -> list[ProviderRefund]:
        """Every refund of the payment intent as the provider has it now, oldest first."""

    # Checkout Sessions
    @abc.abstractmethod
    def create_checkout_session(
        self,
        *,
        mode: str,
        customer: str,
        lines: list[CheckoutLine],
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        client_reference_id: str | None = None,
        metadata: dict | None = None,
        trial_days: int = 0,
    ) -> ProviderCheckoutSession: ...

    @abc.abstractmethod
    def retrieve_checkout_session(self, session_id: str) -> ProviderCheckoutSession: ...

    @abc.abstractmethod
    def expire_checkout_session(self, session_id: str) -> ProviderCheckoutSession: ...

    # Subscriptions and their invoices. These answer the object as a plain dict in
    # Stripe's JSON shape: the shape webhook events deliver, so one mapping
    # (`portal.subscriptions.sync`) reads what a call answered and what an event carried.
    @abc.abstractmethod
    def create_subscription(
        self,
        *,
        customer: str,
        price_id: str,
        idempotency_key: str,
        trial_days: int = 0,
        metadata: dict | None = None,
    ) -> dict:
        """Start a subscription charged to the customer's default card; its first
        invoice is attempted at once (`latest_invoice` comes expanded)."""

    @abc.abstractmethod
    def retrieve_subscription(self, subscription_id: str) -> dict: ...

    @abc.abstractmethod
    def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> dict: ...

    @abc.abstractmethod
    def change_subscription_price(
        self, subscription_id: str, *, price_id: str, prorate: bool, idempotency_key: str
    ) -> dict:
        """Put the subscription's one item on another price: with `prorate`, the
        difference for the rest of the period is invoiced and charged now; without, the
        new price is billed from the next renewal."""

    @abc.abstractmethod
    def cancel_subscription_now(self, subscription_id: str) -> dict: ...

    @abc.abstractmethod
    def retrieve_invoice(self, invoice_id: str) -> dict: ...

    @abc.abstractmethod
    def list_subscription_invoices(self, subscription_id: str, *, limit: int = 12) -> list[dict]:
        """The subscription's invoices, newest first."""

    @abc.abstractmethod
    def invoice_payment_intent(self, invoice: dict) -> ProviderIntent | None:
        """The payment intent that collects an invoice (its last attempt), if any."""

    @abc.abstractmethod
    def pay_invoice(self, invoice_id: str, *, payment_method: str | None = None) -> dict:
        """Attempt an open invoice again, with `payment_method` or the customer's default."""

    # Transfers to connected accounts (payouts)
    @abc.abstractmethod
    def create_transfer(
        self,
        *,
        amount: int,
        currency: str,
        destination: str,
        idempotency_key: str,
        metadata: dict | None = None,
        transfer_group: str | None = None,
    ) -> ProviderTransfer: ...

    @abc.abstractmethod
    def retrieve_transfer(self, transfer_id: str) -> ProviderTransfer: ...

    @abc.abstractmethod
    def find_transfer(self, transfer_group: str) -> ProviderTransfer | None:
        """The transfer made with `transfer_group`, if there is one."""
