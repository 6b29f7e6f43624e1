"""A peer a user might pick instead of Portcullis: FastMCP 4 as a proxy in front of the same
upstream, with its JWT verifier checking the same tokens (JWKS on loopback, issuer, audience,
the tool's scope).

Usage: python fastmcp_proxy.py UPSTREAM_PORT JWKS_URL ISSUER AUDIENCE PORT
Prints `READY <port>` once the listener accepts connections, then serves until SIGTERM.
Run from the virtual environment bench/lib/fastmcp.ts creates (pip install 'fastmcp>=4,<5').
"""

import asyncio
import socket
import sys

import uvicorn
from fastmcp.server.auth.providers.jwt import JWTVerifier

try:  # FastMCP 3 and later
    from fastmcp.server import create_proxy
except ImportError:  # older releases only had the class method
    from fastmcp import FastMCP

    create_proxy = FastMCP.as_proxy


def main() -> None:
    upstream_port, jwks_url, issuer, audience, port = sys.argv[1:6]
    auth = JWTVerifier(
        jwks_uri=jwks_url,
        issuer=issuer,
        audience=audience,
        algorithm="ES256",
        required_scopes=["bench:echo"],
    )
    proxy = create_proxy(f"http://127.0.0.1:{upstream_port}/mcp", name="bench-proxy", auth=auth)
    # JSON answers, like the other targets (no SSE framing on the measured path).
    app = proxy.http_app(path="/mcp", json_response=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
    )

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5):
            pass
        print(f"READY {port}", flush=True)

    async def serve() -> None:
        await asyncio.gather(server.serve(), announce())

    asyncio.run(serve())


if __name__ == "__main__":
    main()
