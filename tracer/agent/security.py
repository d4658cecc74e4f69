"""Who may talk to an agent: TLS, client certificates, bearer tokens.

An agent streams every packet header of its node and sends probes on
request: on anything but loopback it needs TLS and client authentication,
and refuses to start without them (one clear line, not a warning that
scrolls by). On loopback, plain gRPC is allowed (the one-kernel labs).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from tracer.errors import BrtraceError
from tracer.hostaddr import is_loopback

TOKEN_HEADER = "authorization"


@dataclass(frozen=True, slots=True)
class Security:
    """Files given on the command line (either end): empty means not used."""

    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    token_file: str = ""

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_ca)


def read_file(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise BrtraceError(f"cannot read {what} {path}: {exc.strerror}", 2) from None


def read_token(path: str) -> str:
    token = read_file(path, "--token-file").decode("utf-8", "replace").strip()
    if len(token) < 16:
        raise BrtraceError(f"the token in {path} is too short (at least 16 characters)", 2)
    return token


def split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise BrtraceError(f"not HOST:PORT: {addr!r}", 2)
    return host.strip("[]"), int(port)


def check_listen(addr: str, sec: Security) -> None:
    """Non-loopback without TLS and client authentication: refuse."""
    host, _ = split_addr(addr)
    if bool(sec.tls_cert) != bool(sec.tls_key):
        raise BrtraceError("--tls-cert and --tls-key go together", 2)
    if is_loopback(host):
        return
    if not (sec.tls_cert and (sec.tls_ca or sec.token_file)):
        raise BrtraceError(f"refusing to listen on {addr} without TLS and client authentication: "
                           "give --tls-cert/--tls-key and --tls-ca or --token-file "
                           "(or listen on 127.0.0.1)", 2)


def server_credentials(sec: Security) -> grpc.ServerCredentials | None:
    if not sec.tls_cert:
        return None
    ca = read_file(sec.tls_ca, "--tls-ca") if sec.tls_ca else None
    pair = (read_file(sec.tls_key, "--tls-key"), read_file(sec.tls_cert, "--tls-cert"))
    return grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=ca is not None)


def channel_credentials(sec: Security) -> grpc.ChannelCredentials | None:
    """TLS towards the agent: its CA (--tls-ca), and our certificate if we have one."""
    if not sec.tls:
        return None
    ca = read_file(sec.tls_ca, "--tls-ca") if sec.tls_ca else None
    key = read_file(sec.tls_key, "--tls-key") if sec.tls_key else None
    cert = read_file(sec.tls_cert, "--tls-cert") if sec.tls_cert else None
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)


class TokenCheck(grpc.ServerInterceptor):  # type: ignore[misc]
    """Every call must carry ``authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._want = f"Bearer {token}".encode()

        def deny(request: Any, context: grpc.ServicerContext) -> Any:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")

        self._deny = grpc.unary_unary_rpc_method_handler(deny)
        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny)

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        got = dict(details.invocation_metadata or ()).get(TOKEN_HEADER, "")
        if hmac.compare_digest(str(got).encode(), self._want):
            return continuation(details)
        return self._deny_stream if details.method.endswith("/Trace") else self._deny
