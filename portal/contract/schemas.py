"""The pieces every API schema is made of: request and answer bases, the error body, the
list shape, and the field types that carry the API's rules.

- A request body is strict JSON: an integer field takes a JSON integer only (not `true`,
  not `"5"`, not `5.0`), a string field a JSON string only, a boolean `true` or `false`;
  an unknown field is refused. Money is an integer of minor units (cents).
- A query string is text: its numbers are ASCII digits (`Digits`); unknown parameters are
  ignored, as browsers and proxies add their own.
- An answer lists every field it may hold; absent values are `null`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)
from pydantic_core import PydanticCustomError

from portal.db import MAX_ID
from portal.input import TEXT_CONTROL_CHARACTERS
from portal.validation import FIRST_DAY, LAST_DAY

# The largest amount a BIGINT holds (money columns are BIGINT).
MAX_MONEY = 2**63 - 1
# Far past any real list; a larger page number would overflow the database's OFFSET.
MAX_PAGE = 1_000_000
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100

_DIGITS = re.compile(r"[0-9]{1,19}")
# A filter's day as the document states it: ISO 8601's extended form, YYYY-MM-DD, of a year
# from FIRST_DAY's to LAST_DAY's (the day itself is checked by the calendar).
DAY_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
_DAY_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def examples(*values: dict) -> ConfigDict:
    """`model_config` extra that puts examples on a schema (shown by the reference)."""
    return {"json_schema_extra": {"examples": list(values)}}


class RequestBody(BaseModel):
    """A JSON request body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class EmptyBody(RequestBody):
    """No fields: the path says it all. No body, or `{}`; any field is refused."""

    model_config = examples({})


class Query(BaseModel):
    """A query string: text parsed into its types; unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


class Answer(BaseModel):
    """A JSON answer: exactly the fields listed. `Model.model_validate(row)` reads them
    from a row's attributes of the same names (`Field(validation_alias=...)` for others)."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, validate_by_name=True)


def digits(value: Any) -> Any:
    """A query value of ASCII digits as an int; anything else (blanks, "²", "+1", "1.5",
    "0x10") is left for the int check to refuse."""
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return value


def _day(value: Any) -> Any:
    """A query value like "2026-01-31" as a date, within the days filters take. Only that
    form: not the basic "20260131" nor a week date, which Python would read too."""
    if isinstance(value, str):
        try:
            if not _DAY_FORM.fullmatch(value):
                raise ValueError(value)
            value = date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("day", "Use a date like 2026-01-31") from None
    if isinstance(value, date) and not FIRST_DAY <= value <= LAST_DAY:
        raise PydanticCustomError(
            "day_range",
            "Choose a date from {first} to {last}",
            {"first": FIRST_DAY.year, "last": LAST_DAY.year},
        )
    return value


# Ids of rows (integers in JSON, never booleans or strings).
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID, examples=[42])]
# Money in minor units (cents): an integer, never a float or a string.
Money = Annotated[StrictInt, Field(ge=-MAX_MONEY, le=MAX_MONEY, examples=[4500])]
PositiveMoney = Annotated[StrictInt, Field(ge=1, le=MAX_MONEY, examples=[4500])]
# A number typed in a query string: ASCII digits only.
Digits = Annotated[int, BeforeValidator(digits), Field(strict=True)]
# A day typed in a query string (a filter): ISO 8601, from 1970 to 2999.
Day = Annotated[
    date,
    BeforeValidator(_day),
    Field(strict=True, examples=["2026-01-31"], json_schema_extra={"pattern": DAY_PATTERN}),
]
Currency = Annotated[str, Field(pattern=r"^[a-z]{3}$", examples=["usd"])]
# Times are UTC ISO 8601 with a Z, e.g. 2026-10-25T00:30:00Z.
Timestamp = datetime


def row_uuid(description: str = "") -> Any:
    """An answer's `id` that is the row's `uuid` (payments, payouts, invoices)."""
    return Field(validation_alias=AliasChoices("uuid", "id"), description=description)


def _no_default(schema: dict) -> None:
    schema.pop("default", None)


def omissible(description: str) -> Any:
    """A request field that may be left out (read as None) but never sent as `null`: its
    type says what it takes, and the document shows no `null` default."""
    return Field(None, description=description, json_schema_extra=_no_default)


def text(max_length: int, *, min_length: int = 0) -> Any:
    """A JSON string of at most `max_length` characters."""
    return Annotated[StrictStr, Field(min_length=min_length, max_length=max_length)]


# Patterns of text a service strips or collapses before it checks it: a blank is a
# whitespace character the input layer lets through (not a control character), a solid one
# neither blank nor control.
BLANK = f"[^\\S{TEXT_CONTROL_CHARACTERS}]"
_FREE = f"[^{TEXT_CONTROL_CHARACTERS}]"
_SOLID = f"[^\\s{TEXT_CONTROL_CHARACTERS}]"


def said_pattern(at_least: int = 1) -> str:
    """Text holding at least `at_least` solid characters."""
    return f"^{_FREE}*" + f"{_SOLID}{_FREE}*" * at_least + "$"


def trimmed(core: str) -> str:
    """The pattern of a value taken with blanks around it: `core` between them."""
    return f"^{BLANK}*(?:{core}){BLANK}*$"


SAID_PATTERN = said_pattern()


def shaped(max_length: int, pattern: str) -> Any:
    """A JSON string of at most `max_length` characters whose shape its service checks,
    with a message of its own naming the field; the document states the shape as
    `pattern`, and the service stays the one judge."""
    return Annotated[
        StrictStr, Field(max_length=max_length, json_schema_extra={"pattern": pattern})
    ]


def said(max_length: int, *, at_least: int = 1) -> Any:
    """A JSON string of at most `max_length` characters that is not blank (a reason, a
    line's description): the service strips it and refuses a blank one."""
    return shaped(max_length, said_pattern(at_least))


class PageQuery(Query):
    """`?page=&page_size=` of every list."""

    page: Digits = Field(1, ge=1, le=MAX_PAGE, description="Which page, from 1.")
    page_size: Digits = Field(
        DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Results on a page."
    )


T = TypeVar("T")


class Page(Answer, Generic[T]):
    """One page of a list, with links to its neighbours."""

    count: int = Field(description="How many results the whole list holds.")
    next: str | None = Field(description="The next page's URL, or null on the last.")
    previous: str | None = Field(description="The previous page's URL, or null on the first.")
    results: list[T]


class ErrorDetail(Answer):
    code: str = Field(description="A stable code, e.g. invalid, not_found, insufficient_funds.")
    message: str = Field(description="What went wrong, for a person.")
    fields: dict[str, list[str]] | None = Field(
        None, description="The fields at fault, each with its messages (bad input only)."
    )


class ErrorBody(Answer):
    """Every error answer: `{"error": {"code", "message", "fields"?}}`."""

    model_config = ConfigDict(
        **examples(
            {
                "error": {
                    "code": "invalid",
                    "message": "booking_id: This field is required.",
                    "fields": {"booking_id": ["This field is required."]},
                }
            }
        )
    )

    error: ErrorDetail
