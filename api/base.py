"""django-ninja's NinjaAPI with what our contract needs of it: operation ids a client
generator turns into good names, the complete OpenAPI document (api/openapi.py), and unknown
fields told with the fields that were meant (api/validation.py)."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI
from ninja.errors import ValidationError, ValidationErrorContext
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from api import openapi
from api.validation import known_fields


class BotAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        # "create_handoff", not ninja's "api_endpoints_create_handoff": generated clients
        # name their methods after it. Endpoints whose function name would not do pass
        # operation_id= themselves.
        return operation.view_func.__name__

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        document = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        openapi.complete(document)
        return document

    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext]
    ) -> ValidationError:
        error = super().validation_error_from_error_contexts(error_contexts)
        models = {context.model.__ninja_param_source__: context.model for context in error_contexts}
        for item in error.errors:
            if item.get("type") != "extra_forbidden":
                continue
            # loc: (source, the view's parameter, *path to the object, the unknown name)
            source, *path, _ = item["loc"]
            model = models.get(source)
            if model is not None:
                item["ctx"] = {**item.get("ctx", {}), "known_fields": known_fields(model, path)}
        return error
