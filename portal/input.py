"""The input layer: what every request's text and JSON must be before a view sees it.

- No control characters in a query string (filters are single-line), nor in a form
  field or a JSON string apart from tab and newline (multi-line text such as a reason).
- A JSON endpoint (`/api/`, POST/PUT/PATCH/DELETE with a body) takes JSON only: another
  content type is 415; a body over `API_MAX_JSON_BYTES` is 413; nesting deeper than
  `API_MAX_JSON_DEPTH` or text that is not JSON is 400. Each answer is in the API's
  error shape; a page answers 400.
- Filters parse in one place: `choice_filter` for fixed values, `int_filter` for ids
  and numbers; an unknown or odd value is a 400 naming the filter.

Views that verify a raw body themselves (the Stripe webhook) are marked `@raw_body`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from flask import Flask, abort, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from portal.errors import ValidationError
from portal.errors import is_api_request as _is_api

# The control characters refused in a single line (a query string, a form field's name) and
# in text (a form field, a JSON string: tab, line feed and carriage return allowed), as
# regular expression ranges (the API's document states them as patterns too).
LINE_CONTROL_CHARACTERS = r"\x00-\x1f\x7f"
TEXT_CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
_LINE_CONTROL = re.compile(f"[{LINE_CONTROL_CHARACTERS}]")
_TEXT_CONTROL = re.compile(f"[{TEXT_CONTROL_CHARACTERS}]")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
DEFAULT_MAX_JSON_BYTES = 64 * 1024
DEFAULT_MAX_JSON_DEPTH = 32


def raw_body(view):
    """Mark a view that reads and verifies its own body (no JSON checks here)."""
    view._raw_body = True
    return view


def _refuse(message: str, name: str | None = None):
    if _is_api():
        raise ValidationError(message, fields={name: [message]} if name else None)
    abort(400, message)


def _check_query() -> None:
    for name, value in request.args.items(multi=True):
        if _LINE_CONTROL.search(name) or _LINE_CONTROL.search(value):
            _refuse(f"The {name!r} filter holds a control character.", name)


def _check_form() -> None:
    if request.method not in _BODY_METHODS or request.mimetype not in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        return
    for name, value in request.form.items(multi=True):
        if _LINE_CONTROL.search(name) or _TEXT_CONTROL.search(value):
            _refuse(f"The field {name!r} holds a control character.", name)


def _check_json() -> None:
    if not _is_api() or request.method not in _BODY_METHODS:
        return
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    if view is not None and getattr(view, "_raw_body", False):
        return
    limit = current_app.config.get("API_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES)
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge(f"The body is larger than {limit} bytes.")
    body = request.get_data(cache=True)
    if len(body) > limit:
        raise RequestEntityTooLarge(f"The body is larger than {limit} bytes.")
    if not body:
        return
    if not request.is_json:
        raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
    depth = current_app.config.get("API_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    if _nesting(body) > depth:
        raise ValidationError(f"The JSON body is nested deeper than {depth} levels.")
    data = request.get_json(silent=True)
    if data is None:
        raise ValidationError("The request body is not valid JSON.")
    for text in _strings(data):
        if _TEXT_CONTROL.search(text):
            raise ValidationError("The JSON body holds a control character.")


def _nesting(body: bytes) -> int:
    """How deep arrays and objects nest, counted without parsing (so without recursion)."""
    deepest = depth = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _strings(value) -> Iterable[str]:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_input() -> None:
    _check_query()
    # The body first: parsing a form would consume it before the JSON check could see it.
    _check_json()
    _check_form()


def choice_filter(args, name: str, allowed: Iterable[str], default: str | None = None):
    """The filter `name` when it is one of `allowed`; missing or empty is `default`; any
    other value is a 400 naming the filter and its values."""
    value = args.get(name)
    if value is None or value == "":
        return default
    allowed = [str(choice) for choice in allowed]
    if value not in allowed:
        raise ValidationError(
            f"Unknown {name}: choose one of {', '.join(allowed)}.",
            fields={name: [f"One of: {', '.join(allowed)}."]},
        )
    return value


def int_filter(
    args, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    """The integer filter `name`: missing or empty is None; ASCII digits (with a leading
    minus when `minimum` allows it) in range are the number; anything else, blanks
    included, is a 400."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and re.fullmatch(r"-?[0-9]{1,19}", raw)):
        raise ValidationError(f"{name} must be a whole number.", fields={name: ["A whole number."]})
    value = int(raw)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValidationError(f"{name} is out of range.", fields={name: ["Out of range."]})
    return value


def register_input(app: Flask) -> None:
    app.config.setdefault("API_MAX_JSON_BYTES", DEFAULT_MAX_JSON_BYTES)
    app.config.setdefault("API_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)
    app.before_request(check_input)
