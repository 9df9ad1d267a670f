"""oauth: an MCP server over streamable HTTP that only answers clients signed in with OAuth.

Run: `python tests/servers/oauth_server.py [--host 127.0.0.1 --port N --expires-in S]`.
It serves streamable HTTP at `/mcp` and prints `READY <url>` to stderr once listening.

It is its own authorization server, built on the SDK's `mcp.server.auth`: discovery
metadata, dynamic client registration, `/authorize`, `/token`. `/authorize` approves at
once (no login page): it redirects straight to the client's `redirect_uri` with a code,
so a test plays the person by fetching the authorization link and following redirects.

Access tokens live `--expires-in` seconds (default 60). A refresh rotates both tokens:
the old refresh token and the access token issued with it stop working at once, so a
client that did not keep the new ones must sign in again.

Tools:

- `whoami()`: `signed in as <client name>`, for the calling token's client.
- `revoke_all()`: forget every access and refresh token, as a server does when access
  is withdrawn: the next request needs a new sign-in in the browser.
- `oauth_stats()`: counts of `registrations`, `authorizations` (browser approvals) and
  `refreshes`, and the SHA-256 of the newest access and refresh tokens.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import socket
import time

import anyio
import uvicorn
from _shared import _ReadyServer
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

SCOPE = "tools"


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AutoApprove:
    """An in-memory authorization server that approves every request at once."""

    def __init__(self, expires_in: int) -> None:
        self.expires_in = expires_in
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.access_of: dict[str, str] = {}  # refresh token -> the access token issued with it
        self.stats = {"registrations": 0, "authorizations": 0, "refreshes": 0}
        self.latest = {"access": "", "refresh": ""}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info
        self.stats["registrations"] += 1

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        assert client.client_id is not None
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [SCOPE],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject="tester",
        )
        self.stats["authorizations"] += 1
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        code = self.codes.get(authorization_code)
        return code if code is not None and code.client_id == client.client_id else None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        del self.codes[authorization_code.code]
        return self._issue(
            authorization_code.client_id, authorization_code.scopes, authorization_code.resource
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        token = self.refresh.get(refresh_token)
        return token if token is not None and token.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        await self.revoke_token(refresh_token)
        self.stats["refreshes"] += 1
        return self._issue(
            refresh_token.client_id, scopes or refresh_token.scopes, refresh_token.resource
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or (found.expires_at is not None and found.expires_at < time.time()):
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        if isinstance(token, RefreshToken):
            self.refresh.pop(token.token, None)
            self.access.pop(self.access_of.pop(token.token, ""), None)
        else:
            self.access.pop(token.token, None)

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access[access] = AccessToken(
            token=access,
            client_id=client_id,
            scopes=scopes,
            expires_at=int(time.time()) + self.expires_in,
            resource=resource,
            subject="tester",
        )
        self.refresh[refresh] = RefreshToken(
            token=refresh, client_id=client_id, scopes=scopes, resource=resource, subject="tester"
        )
        self.access_of[refresh] = access
        self.latest = {"access": access, "refresh": refresh}
        return OAuthToken(
            access_token=access,
            expires_in=self.expires_in,
            refresh_token=refresh,
            scope=" ".join(scopes),
        )


def build(base: str, provider: AutoApprove) -> MCPServer:
    server = MCPServer(
        "oauth",
        auth_server_provider=provider,
        auth=AuthSettings(
            issuer_url=base,
            resource_server_url=f"{base}/mcp",
            validate_token_resource=True,
            required_scopes=[SCOPE],
            client_registration_options=ClientRegistrationOptions(
                enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE]
            ),
        ),
    )

    @server.tool()
    def whoami() -> str:
        """Say which registered client the calling token belongs to."""
        token = get_access_token()
        client = provider.clients.get(token.client_id) if token else None
        return f"signed in as {client.client_name if client else 'nobody'}"

    @server.tool()
    def revoke_all() -> str:
        """Forget every access and refresh token; the next request must sign in again."""
        provider.access.clear()
        provider.refresh.clear()
        return "revoked"

    @server.tool()
    def oauth_stats() -> dict[str, object]:
        """Counts of registrations, browser approvals and refreshes; newest tokens' hashes."""
        return {
            **provider.stats,
            "access_sha256": _sha(provider.latest["access"]),
            "refresh_sha256": _sha(provider.latest["refresh"]),
        }

    return server


async def serve(host: str, port: int, expires_in: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    base = f"http://{host}:{sock.getsockname()[1]}"
    app = build(base, AutoApprove(expires_in)).streamable_http_app(host=host)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    await _ReadyServer(config, f"{base}/mcp").serve(sockets=[sock])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--expires-in", type=int, default=60, help="access token lifetime (s)")
    args = parser.parse_args()
    anyio.run(serve, args.host, args.port, args.expires_in)
