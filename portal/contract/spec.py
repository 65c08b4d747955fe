"""Validation of every `/api/v1/` request and answer against its schemas, with spectree.

A view declares its contract with `@operation(...)`, under its role decorator:

    @bp.post("/intent/")
    @student_required
    @operation({201: PaymentStep, 200: PaymentStep}, errors=(404, 409, 502), idempotent=True)
    def create_intent(json: IntentRequest):
        "Start paying for a lesson (the summary line of the reference)."

- The body (`json: Model`) and the query string (`query: Model`) are validated before the
  view runs and handed to it as model instances; a refusal is the API's 400
  `{"error": {"code": "invalid", "message", "fields"}}`, never spectree's own shape.
- The body is read as strict JSON (`model_validate_json`), so `true` is no integer and
  `"5"` no number (a whole number written `5.0` is the integer 5, as JSON Schema counts
  it: `whole_numbers`); the input layer (`portal.input`) has already refused NUL bytes, deep
  nesting, oversized and non-JSON bodies.
- The answer is checked against the schema of its status: a view returns a model instance
  (dumped as is) or a dict (validated). An answer that breaks its schema fails loudly in
  tests and development; in production it is logged and sent as it is.
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import current_app, request
from spectree import Response, SpecTree
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin
from werkzeug.wrappers import Response as WerkzeugResponse

from portal.contract.schemas import ErrorBody
from portal.errors import ValidationError

log = logging.getLogger(__name__)

OPERATION_ATTRIBUTE = "_api_operation"


class AnswerContractError(RuntimeError):
    """A view answered something its schema does not allow (a bug, never bad input)."""


@dataclass(frozen=True)
class Operation:
    """What the document says of an operation beyond its schemas."""

    errors: tuple[int, ...] = ()
    idempotent: bool = False
    rate_limited: bool = True
    security: str | None = None
    body: Any = None
    file: str | None = None
    rules: str | None = None


class _PortalFlaskPlugin(FlaskPlugin):
    def request_validation(self, request, query, json, form, headers, cookies):
        # Strict JSON straight from the body; an empty value in a query string is absent.
        args = {k: v for k, v in request.args.items() if v != ""} if query else None
        body = whole_numbers(request.get_data(cache=True) or b"{}") if json else None
        request.context = Context(
            query.model_validate(args) if query else None,
            json.model_validate_json(body) if json else None,
            None,
            None,
            None,
        )

    def validate_response(self, resp, resp_model, skip_validation, force_resp_serialize):
        if isinstance(resp, WerkzeugResponse) and resp.direct_passthrough:
            # A download (`send_file`) streams its bytes: there is no JSON to check, and
            # reading the stream here would take it from the client.
            return resp, None
        response, error = super().validate_response(
            resp, resp_model, skip_validation, force_resp_serialize
        )
        if error is None:
            return response, None
        if current_app.testing or current_app.debug:
            raise AnswerContractError(f"{request.endpoint}: {error}") from error
        log.error("answer of %s breaks its schema: %s", request.endpoint, error.errors())
        response, _ = super().validate_response(resp, None, True, False)
        return response, None


_NUMBER_WITH_POINT = re.compile(rb"[0-9][.eE]")
# Past this a number written with a point or an exponent is not taken as a whole one: its
# digits would be made for nothing (every integer field has a smaller maximum).
_WHOLE_DIGITS = 19


def _whole_or_float(text: str) -> int | float:
    value = Decimal(text)
    if value.adjusted() < _WHOLE_DIGITS and value == value.to_integral_value():
        return int(value)
    return float(text)


def whole_numbers(body: bytes) -> bytes:
    """The body with every whole number written as an integer (`5.0`, `5e2`: `5`, `500`).

    JSON Schema (and so the OpenAPI document) counts a number with a zero fraction as an
    integer, so an integer field takes `4500.0` as `4500`; the strict check that follows
    still refuses `4500.5`, `"4500"` and `true`. Read exactly, from the digits, never
    through a float. A body that holds no such number, or is no JSON, is left as it is."""
    if not _NUMBER_WITH_POINT.search(body):
        return body
    try:
        data = jsonlib.loads(body, parse_float=_whole_or_float)
    except ValueError:
        return body
    return jsonlib.dumps(data).encode()


_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "int_type": "Must be an integer.",
    "int_parsing": "Must be an integer.",
    "bool_type": "Must be true or false.",
    "string_type": "Must be a string.",
}


def _field_name(location: tuple) -> str:
    """A field inside a list's item (`items.0.quantity`) is named by its own name
    (`quantity`), as the services name it; the message says where it is."""
    names = [part for part in location if isinstance(part, str)]
    return names[-1] if names else ".".join(map(str, location))


def _refuse_invalid(req, resp, error, instance, adapter) -> None:
    """Spectree's `before` hook: a refused request is the API's 400 with its fields."""
    if error is None:
        return
    fields: dict[str, list[str]] = {}
    where: dict[str, list[str]] = {}
    for item in error.errors(include_url=False):
        if not item["loc"]:
            raise ValidationError("The request body must be a JSON object.")
        text = _MESSAGES.get(item["type"], item["msg"] + ".")
        texts = fields.setdefault(_field_name(item["loc"]), [])
        if text not in texts:
            texts.append(text)
        where.setdefault(".".join(str(part) for part in item["loc"]), []).append(text)
    message = " ".join(f"{name}: {' '.join(texts)}" for name, texts in where.items())
    raise ValidationError(message, fields=fields)


_names: dict[str, object] = {}


def schema_name(model: Any) -> str:
    """A schema's name in the document: the class name (`Page[PaymentAnswer]` is
    `PaymentAnswerPage`). Two schemas may not share a name."""
    name = getattr(model, "__name__", str(model))
    generic = re.fullmatch(r"(\w+)\[(\w+)\]", name)
    if generic:
        name = generic[2] + generic[1]
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"{name!r} cannot name a schema")
    if _names.setdefault(name, model) is not model:
        raise ValueError(f"two API schemas are named {name}: rename one")
    return name


def _nested_name(parent: str, child: str) -> str:
    generic = re.fullmatch(r"(\w+?)_(\w+)_", child)
    return generic[2] + generic[1] if generic else child


api_spec = SpecTree(
    "flask",
    backend=_PortalFlaskPlugin,
    mode="strict",
    before=_refuse_invalid,
    validation_error_status=400,
    validation_error_model=ErrorBody,
    naming_strategy=schema_name,
    nested_naming_strategy=_nested_name,
    title="M4SH Portal API",
    version="1",
    openapi_version="3.1.0",
    page_templates={},
)


def _operation_id(func) -> str:
    parts = func.__module__.split(".")[1:]
    parts[-1] = parts[-1].removesuffix("api").rstrip("_")
    return ".".join(part for part in parts if part) + "." + func.__name__


def operation(
    answers: dict[int, Any],
    *,
    errors: Iterable[int] = (),
    tags: Iterable[str] = (),
    idempotent: bool = False,
    rate_limited: bool = True,
    security: str | None = None,
    body: Any = None,
    file: str | None = None,
    rules: str | None = None,
):
    """Declare a view's contract: its answers by status (a model, None for no body, or
    `(model, description)`), the errors it may answer beyond those every operation of its
    kind has (400 for input, 401/403 from its role decorator, 404 for a path with ids, 429),
    whether it creates money (`idempotent`: the `Idempotency-Key` header), and `security`
    to name a scheme other than the API's token or session (`"stripe_signature"`),
    `body` for a body the view reads itself (documented, not validated), and `file` for
    an operation whose success answer (declared `None`) is a download of that media type,
    e.g. `"application/pdf"`, and `rules` for what the operation refuses with a 400 though
    its schema takes it: rules no schema can state (a time in the future, a row that must
    exist, a setting), written on its 400 answer."""
    response = Response(**{f"HTTP_{code}": model for code, model in answers.items()})
    details = Operation(tuple(errors), idempotent, rate_limited, security, body, file, rules)

    def decorate(func):
        feature = func.__module__.split(".")[1]
        validated = api_spec.validate(
            resp=response, tags=tuple(tags) or (feature,), operation_id=_operation_id(func)
        )(func)
        setattr(validated, OPERATION_ATTRIBUTE, details)
        return validated

    return decorate


def operation_of(view) -> Operation | None:
    """The `Operation` of a route's view, through the decorators wrapped around it."""
    while view is not None:
        found = getattr(view, OPERATION_ATTRIBUTE, None)
        if found is not None:
            return found
        view = getattr(view, "__wrapped__", None)
    return None
