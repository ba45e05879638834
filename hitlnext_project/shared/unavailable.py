"""503, not 500, when the database is unavailable while a page or an agent action is served.

During a database restart or failover (or with the pool out of connections past its timeout)
a view's query raises OperationalError or InterfaceError: nothing was half-written (its
transaction rolled back), so the honest answer is "try again shortly", as the bot API already
answers (api/endpoints.py). A view's exception is met by the middleware below; one raised in a
middleware (the session and the user are read there) never reaches it, and becomes Django's
500 page, where handler500 (server_error, hitlnext_project/urls.py) looks at the exception
being handled and answers the same 503.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds

PAGE = (
    "<!doctype html><title>Temporarily unavailable</title>"
    "<h1>Temporarily unavailable</h1>"
    "<p>The service cannot reach its database right now. Nothing was changed; try again in a "
    "few seconds.</p>"
)


def unavailable(request: HttpRequest, exception: BaseException) -> HttpResponse:
    logger.error("database unavailable on %s %s: %s", request.method, request.path, exception)
    response = HttpResponse(PAGE, status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: called while Django handles the exception, in the thread that raised it."""
    exception = sys.exc_info()[1]
    if isinstance(exception, OperationalError | InterfaceError):
        return unavailable(request, exception)
    return defaults.server_error(request)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        return unavailable(request, exception)
