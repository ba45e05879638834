import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hitlnext_project.settings")
# Django must be set up before consumers (and so models) are imported.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from hitlnext_project.routing import websocket_urlpatterns  # noqa: E402
from hitlnext_project.shared.proxies import TrustedProxyASGIMiddleware  # noqa: E402
from hitlnext_project.shared.sockets import OpenSocketsMiddleware  # noqa: E402
from hitlnext_project.shared.websocket_origin import SameOriginValidator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Outermost: counts the sockets that were accepted, for /metrics.
        "websocket": OpenSocketsMiddleware(
            TrustedProxyASGIMiddleware(
                SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
            )
        ),
    }
)
