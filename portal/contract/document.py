"""The OpenAPI 3.1 document of `/api/v1/`: spectree's paths and schemas, completed here
with what every operation shares, each written once:

- security: an API token (`Authorization: Bearer`), or the browser session with its CSRF
  token (`X-CSRFToken`) on calls that change something; read from the view's role
  decorator, as are the 401 and 403 answers;
- the error answers, all in the one error shape, with an example each;
- the rate-limit headers and the 429 answer (`rate_limit_headers`), the `Idempotency-Key`
  request header (`idempotency_key`);
- examples from the schemas, put on each body and answer.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from flask import Flask, current_app

from portal.config import ROOT
from portal.contract.schemas import MAX_ID, ErrorBody
from portal.contract.spec import Operation, api_spec, operation_of, schema_name
from portal.input import LINE_CONTROL_CHARACTERS, TEXT_CONTROL_CHARACTERS

API_PREFIX = "/api/v1/"
ROLES_ATTRIBUTE = "api_roles"
_UNSAFE = {"post", "put", "patch", "delete"}
_ERROR_REF = {"$ref": f"#/components/schemas/{schema_name(ErrorBody)}"}

# The longest request line gunicorn reads (`limit_request_line` in gunicorn.conf.py).
REQUEST_LINE_LIMIT = 4094

DESCRIPTION = """\
The JSON API of the M4SH portal: lessons, payments, saved cards, refunds, wallets,
payouts, subscriptions and invoices.

**Authentication.** Send `Authorization: Bearer <token>` (a token from
`flask --app app users token EMAIL`; no CSRF token needed), or call from a signed-in
browser session with its CSRF token in `X-CSRFToken` on every call that changes
something. A bearer token opens the API only, never a page.

**Conventions.** Money is an integer of minor units (cents) of the platform currency,
never a float. Times are UTC ISO 8601 (`2026-10-25T00:30:00Z`). Payments, payouts and
invoices are addressed by uuid, everything else by integer id. Lists are
`{"count", "next", "previous", "results"}`, paged by `?page=&page_size=` (at most 100).
A query parameter sent empty (`?to=`) is the same as one left out.
A request body is a JSON object (`Content-Type: application/json`); an unknown field,
a value of the wrong JSON type (`true` or `"5"` where an integer belongs), a control
character in a string or nesting deeper than 32 levels is refused.

**Errors** are `{"error": {"code", "message", "fields"?}}`: 400 bad input (with the
fields at fault), 401 not signed in, 403 wrong role, 404 missing or somebody else's,
409 not allowed in the current state (e.g. insufficient funds, an invalid transition),
413 a body too large, 415 a body that is not JSON, 429 too many requests, 502 the
payment provider could not be reached (try again). A refused call changes nothing.
""" + (
    f"A request line (method, path and query string) longer than {REQUEST_LINE_LIMIT:,} "
    "bytes is refused with 414 by the HTTP server before the API reads it, so that answer "
    "is the server's page, not the API's JSON.\n"
)

SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`flask users token EMAIL`); lists and revocation "
        "under `/api/v1/me/tokens/`.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "The browser session of a signed-in user.",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "The page's CSRF token; with the session cookie, on every call "
        "that changes something.",
    },
    "stripeSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Stripe-Signature",
        "description": "Stripe's signature of the raw body with the webhook secret "
        "(300 s tolerance).",
    },
}

ERRORS: dict[int, tuple[str, dict]] = {
    400: ("Bad input: a field missing, of the wrong type or out of range.",
          {"code": "invalid", "message": "amount: Must be an integer.",
           "fields": {"amount": ["Must be an integer."]}}),
    401: ("Not signed in: no valid token or session.",
          {"code": "not_authenticated", "message": "Sign in to continue."}),
    403: ("The caller's role cannot do this.",
          {"code": "forbidden", "message": "Your account cannot do this."}),
    404: ("No such object, or somebody else's.",
          {"code": "not_found", "message": "Not found."}),
    409: ("Not allowed in the object's current state.",
          {"code": "invalid_transition", "message": "This cannot be done now."}),
    413: ("The body is too large.",
          {"code": "too_large", "message": "The body is larger than 65536 bytes."}),
    415: ("The body is not JSON.",
          {"code": "unsupported_media_type",
           "message": "Send the body as JSON (Content-Type: application/json)."}),
    429: ("Too many requests: wait for Retry-After seconds.",
          {"code": "rate_limited", "message": "Too many requests."}),
    502: ("The payment provider could not be reached; nothing changed, try again.",
          {"code": "gateway_error", "message": "The payment provider did not answer; "
           "please try again."}),
}  # fmt: skip

URI_TOO_LONG = {
    "description": f"The request line is longer than {REQUEST_LINE_LIMIT:,} bytes: refused "
    "by the HTTP server before the API reads it, so the body is the server's page, not "
    "the API's JSON error."
}

RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": "Requests allowed in the current window.",
    "RateLimit-Remaining": "Requests left in the current window.",
    "RateLimit-Reset": "Seconds until the window resets.",
}


def _integer_header(description: str) -> dict:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


def rate_limit_headers(operation: dict) -> None:
    """Every answer of a rate-limited operation carries the RateLimit-* headers; past the
    limit it is a 429 with Retry-After too."""
    headers = {name: _integer_header(text) for name, text in RATE_LIMIT_HEADERS.items()}
    for status, answer in operation["responses"].items():
        if status.startswith("2"):
            answer.setdefault("headers", {}).update(headers)
    too_many = _error_answer(429)
    too_many["headers"] = {
        **headers,
        "Retry-After": _integer_header("Seconds to wait before trying again."),
    }
    operation["responses"]["429"] = too_many


def idempotency_key(operation: dict) -> None:
    """An operation that creates money takes an `Idempotency-Key` header."""
    operation.setdefault("parameters", []).append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "A key of the client's choosing (e.g. a UUID: 8 to 64 letters, "
            "digits, `-` or `_`) that makes a "
            "retry safe: the same key with the same body answers the first result and "
            "does nothing again; the same key with another body is 409 "
            "`idempotency_conflict`.",
            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
            "example": "9f1c0d52-3c1e-4f0e-9a55-0d0f5b8f9a10",
        }
    )
    _add_errors(operation, [409])


def _error_answer(status: int) -> dict:
    description, example = ERRORS[status]
    return {
        "description": description,
        "content": {"application/json": {"schema": _ERROR_REF, "example": {"error": example}}},
    }


def _add_errors(operation: dict, statuses) -> None:
    for status in statuses:
        operation["responses"][str(status)] = _error_answer(status)


def _security(operation: dict, method: str, roles, details: Operation) -> list[int]:
    """Set the operation's security; the errors that come with it. Every call under
    `/api/` that carries an `Authorization` header has its token checked before any view
    runs, so even an operation open to anybody answers 401 to a token that is invalid or
    revoked."""
    if details.security == "stripe_signature":
        operation["security"] = [{"stripeSignature": []}]
        return [401]
    if roles is None:
        operation["security"] = [{}, {"bearerAuth": []}]
        _describe(
            operation, "For: anybody, signed in or not (a token sent must be valid: 401 otherwise)."
        )
        return [401]
    session = {"sessionCookie": [], "csrfToken": []} if method in _UNSAFE else {"sessionCookie": []}
    operation["security"] = [{"bearerAuth": []}, session]
    if roles:
        _describe(operation, f"For: {', '.join(roles)}.")
        return [401, 403]
    return [401]


def _rules(operation: dict, rules: str) -> None:
    """The rules an operation keeps that no schema can state, in its description; its 400
    answer points there."""
    _describe(operation, f"Refused with 400 though the schema takes it, unless {rules}")
    operation["responses"]["400"]["description"] += (
        " Also a rule no schema states (the operation's description says which)."
    )


def _describe(operation: dict, text: str) -> None:
    """Add a paragraph to the operation's description."""
    operation["description"] = f"{operation.get('description') or ''}\n\n{text}".strip()


def _complete(operation: dict, method: str, view, components: dict) -> None:
    details = operation_of(view) or Operation()
    errors = _security(operation, method, getattr(view, ROLES_ATTRIBUTE, None), details)
    parameters = operation.get("parameters", [])
    if any(p["in"] == "path" for p in parameters):
        errors.append(404)
    if any(p["in"] == "query" for p in parameters):
        errors.append(400)
        # Query parameters make the line as long as the caller likes.
        operation["responses"]["414"] = copy.deepcopy(URI_TOO_LONG)
    if details.body is not None:
        _documented_body(operation, details.body, components)
    body = operation.get("requestBody")
    if body and details.security is None:
        errors += [400, 413, 415]
        schema = _component(body["content"]["application/json"]["schema"], components)
        body["required"] = _demands_fields(schema)
        _no_control_characters(schema, components, set())
    _add_errors(operation, sorted(set(errors) | set(details.errors)))
    if details.rules:
        _rules(operation, details.rules)
    for parameter in parameters:
        _tidy_parameter(parameter)
    if details.file:
        _file_answers(operation, details.file)
    if details.idempotent:
        idempotency_key(operation)
    if details.rate_limited:
        rate_limit_headers(operation)
    _examples(operation, components)
    operation["responses"] = dict(sorted(operation["responses"].items()))


# What the input layer refuses (`portal.input`): in any string of a JSON body, the control
# characters but tab, line feed and carriage return; in a query string, every one.
TEXT_PATTERN = f"^[^{TEXT_CONTROL_CHARACTERS}]*$"
LINE_PATTERN = f"^[^{LINE_CONTROL_CHARACTERS}]*$"
_CONSTRAINED = {"pattern", "format", "enum", "const"}


def _tidy_schema(schema: dict) -> None:
    """Plainer schemas for readers: no generated property titles, and `str | None` as
    `"type": ["string", "null"]` rather than an `anyOf` of two."""
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        options = prop.get("anyOf", [])
        if options and all(set(option) == {"type"} for option in options):
            prop["type"] = [option["type"] for option in prop.pop("anyOf")]


def _tidy_parameter(parameter: dict) -> None:
    """An id in a path is a positive BIGINT. A query parameter is absent rather than null,
    and sent empty (`?to=`) it is absent too, as a form's blank field is; its free text is
    one line: a control character in a query string is a 400 before any view runs."""
    schema = parameter["schema"]
    if parameter["in"] == "path" and schema.get("type") == "integer":
        parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    elif parameter["in"] == "query":
        if not parameter.get("required"):
            parameter["allowEmptyValue"] = True
        schema.pop("title", None)
        options = [s for s in schema.pop("anyOf", []) if s.get("type") != "null"]
        if len(options) == 1:
            schema.update(options[0])
        if schema.get("default", 0) is None:
            del schema["default"]
        if schema.get("type") == "string" and not _CONSTRAINED & schema.keys():
            schema["pattern"] = LINE_PATTERN


def _file_answers(operation: dict, media_type: str) -> None:
    """A download: its success answers are the file's bytes, not JSON."""
    for status, answer in operation["responses"].items():
        if status.startswith("2") and "content" not in answer:
            answer["content"] = {media_type: {"schema": {"contentMediaType": media_type}}}


def _no_control_characters(schema: dict, components: dict, seen: set[str]) -> None:
    """Say on every free-text string of a request body what the input layer refuses: a
    control character (a request holding one is a 400 before any view runs)."""
    ref = schema.get("$ref", "")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name not in seen:
            seen.add(name)
            _no_control_characters(components.get(name, {}), components, seen)
        return
    if schema.get("type") == "string" and not _CONSTRAINED & schema.keys():
        schema["pattern"] = TEXT_PATTERN
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for part in schema.get(key, []):
            _no_control_characters(part, components, seen)
    for part in (*schema.get("properties", {}).values(), schema.get("items")):
        if isinstance(part, dict):
            _no_control_characters(part, components, seen)


def _documented_body(operation: dict, model, components: dict) -> None:
    """A body the view reads itself (the webhook's raw event): described, not validated."""
    name = schema_name(model)
    components[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
    }


def _demands_fields(schema: dict) -> bool:
    """Whether a body must hold some field, so that no body (read as `{}`) is refused: a
    field required, by the schema or by each of its `oneOf`/`anyOf` options or by a part
    of its `allOf`."""
    if schema.get("required"):
        return True
    if any(_demands_fields(part) for part in schema.get("allOf", [])):
        return True
    return any(
        options and all(_demands_fields(option) for option in options)
        for options in (schema.get("oneOf"), schema.get("anyOf"))
    )


def _component(schema: dict, components: dict) -> dict:
    ref = schema.get("$ref", "")
    return components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema


def _examples(operation: dict, components: dict) -> None:
    contents = [operation.get("requestBody", {}).get("content", {})]
    contents += [answer.get("content", {}) for answer in operation["responses"].values()]
    for content in contents:
        for media in content.values():
            example = _example_of(media.get("schema", {}), components)
            if example is not None and "example" not in media:
                media["example"] = example


def _example_of(schema: dict, components: dict):
    """The schema's first example; a list's is one page holding its item's example."""
    schema = _component(schema, components)
    if schema.get("examples"):
        return schema["examples"][0]
    item = schema.get("properties", {}).get("results", {}).get("items")
    if item is not None and set(schema["properties"]) == {"count", "next", "previous", "results"}:
        found = _example_of(item, components)
        if found is not None:
            return {"count": 1, "next": None, "previous": None, "results": [found]}
    return None


def build_document(app: Flask) -> dict[str, Any]:
    """The whole document, for `app`'s routes (call inside its app context)."""
    document = copy.deepcopy(api_spec.spec)
    document["info"]["description"] = DESCRIPTION
    document["components"]["securitySchemes"] = SECURITY_SCHEMES
    document.pop("security", None)
    components = document["components"]["schemas"]
    for schema in components.values():
        _tidy_schema(schema)
    document["tags"] = sorted(document["tags"], key=lambda tag: tag["name"])
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API_PREFIX):
            continue
        path, _ = api_spec.backend.parse_path(rule, None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            operation = document["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                _complete(operation, method.lower(), app.view_functions[rule.endpoint], components)
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


_EXTENSION = "openapi_document"
# The checked-in copy: a change of the contract is a visible change in review.
DOCUMENT_PATH = ROOT / "docs" / "openapi.json"


def document_json() -> str:
    """The document as the checked-in copy holds it: sorted keys, two-space indent."""
    app = current_app._get_current_object()
    if _EXTENSION not in app.extensions:
        text = json.dumps(build_document(app), indent=2, sort_keys=True, ensure_ascii=False)
        app.extensions[_EXTENSION] = text + "\n"
    return app.extensions[_EXTENSION]
