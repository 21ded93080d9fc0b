from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.authentication import get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

PREFIXES = (b"token", b"bearer")


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored hashed) under either `Token` or `Bearer`, as bots send both."""

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in PREFIXES:
            return None
        if len(auth) != 2:
            raise AuthenticationFailed("Invalid token header.")
        return self.authenticate_credentials(auth[1])


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the tokens (defined beside them, so it is registered
    whenever they are in use)."""

    target_class = "accounts.auth.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>` or `Bearer <key>`; issue one with "
            "`manage.py create_api_token <username>` or in the admin.",
        }
