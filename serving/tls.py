"""TLS for the gRPC server: credentials from PEM files, each file checked and named when it is unusable."""

from __future__ import annotations

import ssl

import grpc


def _read(flag: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise ValueError(f"{flag} {path}: cannot read it ({err.strerror})") from None


def server_credentials(cert_path: str, key_path: str, client_ca_path: str | None = None) -> grpc.ServerCredentials:
    """GRPC's server credentials from PEM files, each checked first, so that a bad file is named as such.

    grpcio reports an unusable certificate as a failure to bind, which would read as "port in use".
    With ``client_ca_path``, clients must present a certificate signed by it.

    Raises:
        ValueError: a file cannot be read, or is not what its flag says, naming the flag and the file.
    """
    cert, key = _read("--tls-cert", cert_path), _read("--tls-key", key_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_path, key_path)
    except ssl.SSLError as err:
        raise ValueError(
            f"--tls-cert {cert_path} and --tls-key {key_path} are not a PEM certificate and its private key "
            f"({err.reason or err})"
        ) from None
    client_ca = None
    if client_ca_path:
        client_ca = _read("--tls-client-ca", client_ca_path)
        try:
            context.load_verify_locations(client_ca_path)
        except ssl.SSLError as err:
            raise ValueError(
                f"--tls-client-ca {client_ca_path} is not a PEM CA certificate ({err.reason or err})"
            ) from None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca, require_client_auth=bool(client_ca))
