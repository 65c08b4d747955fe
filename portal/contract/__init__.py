"""The API's contract: the schemas of every `/api/v1/` request and answer (`schemas`),
their validation (`spec`), the OpenAPI document made from them (`document`) and where it
is served (`views`: `/api/v1/openapi.json` and the reference at `/api/docs`)."""
