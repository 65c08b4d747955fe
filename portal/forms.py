"""WTForms pieces shared by features (plain input checks live in `portal.validation`)."""

from __future__ import annotations

import uuid

from flask import current_app
from wtforms import HiddenField, StringField

from portal.money import AmountError, format_major_plain, parse_amount


class MoneyField(StringField):
    """A text box for an amount in major units ("45.50"); `data` is an int of minor units."""

    def __init__(self, label=None, validators=None, currency: str | None = None, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.currency = currency
        self.raw = ""

    def _value(self) -> str:
        if self.raw:
            return self.raw
        if isinstance(self.data, int):
            return format_major_plain(
                self.data, self.currency or current_app.config["PLATFORM_CURRENCY"]
            )
        return ""

    def process_formdata(self, valuelist):
        self.raw = (valuelist[0] if valuelist else "").strip()
        self.data = None
        if not self.raw:
            return
        try:
            self.data = parse_amount(self.raw, self.currency)
        except AmountError as exc:
            raise ValueError(str(exc)) from exc


def apply_field_errors(form, fields: dict[str, list[str]] | None, fallback: str) -> None:
    """Copy a service's field errors onto a form, or onto its first field."""
    placed = False
    for name, messages in (fields or {}).items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = list(field.errors) + list(messages)
            placed = True
    if not placed:
        form.form_errors.append(fallback)


class RequestKeyField(HiddenField):
    """A key new with each fresh form: the same form submitted twice (a double click, a
    resend) is one request. The API takes the same from the `Idempotency-Key` header."""

    def __init__(self, **kwargs):
        super().__init__(default=lambda: uuid.uuid4().hex, **kwargs)
