"""A self-signed certificate for tests, made on the spot (never committed)."""

from __future__ import annotations

import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


DAY = datetime.timedelta(days=1)


def write_certificate(
    folder: str, prefix: str, names: tuple[str, ...] = ("localhost",), addresses: tuple[str, ...] = (),
    valid_from: datetime.timedelta = -DAY, valid_until: datetime.timedelta = DAY,
) -> tuple[str, str]:
    """
    Write ``PREFIX-key.pem`` and ``PREFIX-cert.pem``: a self-signed
    certificate for ``names`` and ``addresses``, valid from now +
    ``valid_from`` to now + ``valid_until``; return their paths.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid_from)
        .not_valid_after(now + valid_until)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = os.path.join(folder, f"{prefix}-key.pem"), os.path.join(folder, f"{prefix}-cert.pem")
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def make_certificate(folder: str, name: str = "localhost") -> tuple[str, str]:
    """Write a key and certificate for ``name`` and 127.0.0.1, valid now; return their paths."""
    return write_certificate(folder, "server", names=(name,), addresses=("127.0.0.1",))
