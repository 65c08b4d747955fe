"""The admin's invoice draft form, read from a plain POST: a student, lines and a discount.

Amounts are typed in major units ("45.50") and become minor units here; the lines come
as `description-N`, `quantity-N`, `unit_price-N` for each N the page sent, so the page
can add and remove lines without the server keeping any state. `DraftInput.read` never
raises: it collects an error per field, and `lines()` is only asked for when there are
none. The service checks everything again before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from werkzeug.datastructures import MultiDict

from portal.errors import ValidationError
from portal.invoices.services import MAX_LINES, MAX_QUANTITY, Line, Totals, compute_totals
from portal.money import AmountError, parse_amount

BLANK_LINE = {"description": "", "quantity": "1", "unit_price": ""}


@dataclass
class DraftInput:
    student_id: str = ""
    discount: str = ""
    rows: list[dict[str, str]] = field(default_factory=lambda: [dict(BLANK_LINE)])
    errors: dict[str, str] = field(default_factory=dict)
    parsed: list[Line] = field(default_factory=list)
    discount_minor: int = 0

    @classmethod
    def read(cls, form: MultiDict) -> DraftInput:
        indexes = sorted(
            {
                int(k.split("-", 1)[1])
                for k in form
                if k.startswith("description-") and k[12:].isdigit()
            }
        )[:MAX_LINES]
        rows = [{name: form.get(f"{name}-{i}", "").strip() for name in BLANK_LINE} for i in indexes]
        draft = cls(
            student_id=form.get("student_id", "").strip(),
            discount=form.get("discount", "").strip(),
            rows=rows or [dict(BLANK_LINE)],
        )
        draft.check()
        return draft

    def check(self) -> None:
        """Parse the rows and the discount again, collecting an error per field."""
        self.errors, self.parsed, self.discount_minor = {}, [], 0
        if not self.student_id:
            self.errors["student_id"] = "Choose a student."
        for n, row in enumerate(self.rows):
            line = self._line(n, row)
            if line is not None:
                self.parsed.append(line)
        if self.discount:
            try:
                self.discount_minor = parse_amount(self.discount)
            except AmountError as exc:
                self.errors["discount"] = str(exc)
        subtotal = sum(line.quantity * line.unit_price for line in self.parsed)
        if self.discount_minor > subtotal and len(self.parsed) == len(self.rows):
            self.errors["discount"] = "The discount is more than the subtotal."

    def _line(self, n: int, row: dict[str, str]) -> Line | None:
        ok = True
        if not row["description"] or len(row["description"]) > 255:
            self.errors[f"description-{n}"] = "Describe the line (1 to 255 characters)."
            ok = False
        quantity = int(row["quantity"]) if row["quantity"].isdigit() else 0
        if not 0 < quantity <= MAX_QUANTITY:
            self.errors[f"quantity-{n}"] = f"A whole number from 1 to {MAX_QUANTITY}."
            ok = False
        try:
            price = parse_amount(row["unit_price"])
        except AmountError as exc:
            self.errors[f"unit_price-{n}"] = str(exc)
            ok = False
        return Line(row["description"], quantity, price) if ok else None

    def add_line(self) -> None:
        if len(self.rows) < MAX_LINES:
            self.rows.append(dict(BLANK_LINE))
        self.check()

    def remove_line(self, n: int) -> None:
        if 0 <= n < len(self.rows) and len(self.rows) > 1:
            del self.rows[n]
        self.check()

    def totals(self, tax_rate: Decimal) -> Totals | None:
        """The totals of the lines valid so far; None while the discount is over them."""
        try:
            return compute_totals(self.parsed, self.discount_minor, tax_rate)
        except ValidationError:
            return None
