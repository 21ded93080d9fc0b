from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.authentication import get_authorization_header

PREFIXES = (b"token", b"bearer")


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox tokens (stored hashed) under either `Token` or `Bearer`, as bots send both."""

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in PREFIXES:
            return None
        if len(auth) != 2:
            from rest_framework.exceptions import AuthenticationFailed

            raise AuthenticationFailed("Invalid token header.")
        return self.authenticate_credentials(auth[1])
