"""
TLS for tchat-client: the options that check the server's certificate, and
one sentence for a person when that check, or TLS itself, fails.

Twisted and OpenSSL decide whether the server's certificate is good: its
chain against the trusted authorities (the system's, or those of ``--ca``),
its dates, and the host name given on the command line. Nothing here
changes that decision. L{ServerTLS} only keeps the OpenSSL connection it
made, so that once a handshake has failed L{ServerTLS.explain} can look at
how it failed (the reason the connection was lost) and at the certificate
the server presented, and say in words what went wrong and what to do:

- a name mismatch: ``the server's certificate is for localhost, not
  127.0.0.1: connect with a name the certificate holds, or --insecure to
  skip the check``;
- an authority this client does not trust (a self-signed certificate
  without ``--ca``, or a different one);
- a certificate that expired, or is not valid yet;
- a server that does not speak TLS at all on that port (its plain-text
  greeting is not a TLS record, or it hangs up before any certificate).

The words come from what the certificate holds, which the server chose:
every piece of it is cleaned of control characters before it is put in a
sentence meant for a terminal.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Iterable

from cryptography import x509
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet import ssl
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.python.failure import Failure
from zope.interface import implementer

from tchat.names import clean_text

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)

# What OpenSSL says when the bytes that came back are not TLS records at
# all: a plain-text server's greeting, an HTTP answer.
NOT_TLS = ("wrong version number", "packet length too long", "unknown protocol", "http request", "record layer failure")

# The advice that ends every certificate sentence: the one way past a
# check a person may knowingly choose.
SKIP = "or --insecure to skip the check"

# How many of a certificate's names a sentence lists before "and N more".
MOST_NAMES = 5


def load_certificates(path: str) -> list[ssl.Certificate]:
    """
    The certificates of the PEM file ``path``. Raises C{OSError} if it
    cannot be read and C{ValueError} if it holds no certificate.
    """
    with open(path, "rb") as f:
        certs = [ssl.Certificate.loadPEM(pem) for pem in _PEM.findall(f.read())]
    if not certs:
        raise ValueError(f"no PEM certificate in {path}")
    return certs


@implementer(IOpenSSLClientConnectionCreator)
class ServerTLS:
    """
    The TLS client side of one connection to ``host``:``port``: the
    server's certificate checked against the system's authorities, or only
    against those in ``ca_file``, and for ``host``; or, with ``insecure``,
    not checked at all.

    Callers may rely on: the checks are Twisted's own
    (L{twisted.internet.ssl.optionsForClientTLS}); L{connection} is the
    OpenSSL connection last made, kept for L{explain}. Raises C{OSError} or
    C{ValueError} if ``ca_file`` cannot be read or holds no certificate.
    """

    def __init__(self, host: str, port: int, ca_file: str | None = None, insecure: bool = False) -> None:
        self.host = host
        self.where = f"{host}:{port}"
        self.ca_file = ca_file
        self._options: Any
        if insecure:
            self._options = ssl.CertificateOptions(verify=False)
        elif ca_file:
            trust = ssl.trustRootFromCertificates(load_certificates(ca_file))
            self._options = ssl.optionsForClientTLS(host, trustRoot=trust)
        else:
            self._options = ssl.optionsForClientTLS(host)
        self.connection: SSL.Connection | None = None

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        self.connection = self._options.clientConnectionForTLS(tlsProtocol)
        return self.connection

    # -- after a failure -----------------------------------------------------

    def presented(self) -> list[x509.Certificate] | None:
        """The certificates the server sent (its own first), or None if none came."""
        if self.connection is None:
            return None
        try:
            chain = self.connection.get_peer_cert_chain(as_cryptography=True)
        except SSL.Error:
            return None
        return list(chain) if chain else None

    def explain(self, reason: Failure) -> str | None:
        """
        One sentence (no line break, nothing a terminal would obey) saying
        why a connection that ended with ``reason`` before the server said
        anything failed at TLS, and what to do about it; None when
        ``reason`` is not a TLS failure (the caller says what it says for
        any other lost connection).
        """
        chain = self.presented()
        if reason.check(VerificationError):
            # Twisted checked the host name against the certificate and it failed.
            return _clean(self._wrong_name(chain[0] if chain else None))
        if reason.check(SSL.Error):
            said = _openssl_reasons(reason.value)
            if "certificate verify failed" in said:
                return _clean(self._not_trusted(chain or []))
            if chain is None and any(marker in r for r in said for marker in NOT_TLS):
                return self._not_tls()
            why = "; ".join(said) or reason.getErrorMessage()
            return _clean(f"the TLS handshake with {self.where} failed ({why})")
        if reason.check(ConnectionDone, ConnectionLost) and chain is None:
            # Hung up before any certificate: not a TLS server, most likely
            # (an HTTP server, say, that gave up on the bytes it got).
            return (
                f"the server at {self.where} closed the connection before TLS was set up: it may not speak TLS"
                " on that port; leave out --tls, --ca and --insecure for a plain one"
            )
        return None

    def refuses_certificate(self, reason: Failure) -> bool:
        """
        Whether ``reason`` is the server's certificate refused (a name it
        does not hold, an authority not trusted, its dates): a failure that
        trying again will not mend, unlike a server that is not up yet.
        """
        if reason.check(VerificationError):
            return True
        return bool(reason.check(SSL.Error)) and "certificate verify failed" in _openssl_reasons(reason.value)

    def _wrong_name(self, cert: x509.Certificate | None) -> str:
        names = _host_names(cert) if cert is not None else []
        if names:
            return f"the server's certificate is for {_listed(names)}, not {self.host}: connect with a name the certificate holds, {SKIP}"
        # Clients check subjectAltName only; a common name alone counts for nothing.
        common = f" (only the common name {_subject(cert)}, which clients no longer go by)" if cert is not None else ""
        return (
            f"the server's certificate names no host{common}, so it is not for {self.host}:"
            f" the server needs a certificate made for the name you connect to, {SKIP}"
        )

    def _not_trusted(self, chain: list[x509.Certificate]) -> str:
        now = datetime.datetime.now(datetime.timezone.utc)
        for depth, cert in enumerate(chain):
            whose = "the server's certificate" if depth == 0 else f"a certificate in the server's chain ({_subject(cert)})"
            if cert.not_valid_after_utc < now:
                return f"{whose} expired on {_when(cert.not_valid_after_utc)}: the server needs a new one (--insecure skips the check)"
            if cert.not_valid_before_utc > now:
                return (
                    f"{whose} is valid only from {_when(cert.not_valid_before_utc)}:"
                    " check this computer's clock (--insecure skips the check)"
                )
        if self.ca_file:
            return (
                f"the server's certificate is not signed by an authority this client trusts (those in {self.ca_file}):"
                f" give the server's own certificate, or its authority's, with --ca FILE, {SKIP}"
            )
        return (
            "the server's certificate is not signed by an authority this client trusts:"
            f" give the server's certificate with --ca FILE, {SKIP}"
        )

    def _not_tls(self) -> str:
        return (
            f"the server at {self.where} answered, but not in TLS: it does not speak TLS on that port;"
            " leave out --tls, --ca and --insecure, or connect to its TLS port"
        )


def _openssl_reasons(error: BaseException) -> list[str]:
    """OpenSSL's reasons in an C{SSL.Error}: it holds (library, function, reason) triples."""
    found = []
    for arg in error.args:
        for entry in arg if isinstance(arg, list) else [arg]:
            if isinstance(entry, tuple) and entry:
                found.append(str(entry[-1]))
            elif isinstance(entry, str) and entry:
                found.append(entry)
    return found


def _host_names(cert: x509.Certificate) -> list[str]:
    """The host names and addresses a certificate is for: those of its subjectAltName."""
    try:
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(n) for n in alt.get_values_for_type(x509.DNSName)] + [str(a) for a in alt.get_values_for_type(x509.IPAddress)]


def _subject(cert: x509.Certificate) -> str:
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else cert.subject.rfc4514_string()


def _listed(names: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``; past L{MOST_NAMES}, ``... and N more``."""
    names = list(names)
    if len(names) > MOST_NAMES:
        names = names[:MOST_NAMES] + [f"{len(names) - MOST_NAMES} more"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _when(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _clean(sentence: str) -> str:
    # The certificate's names are the server's words: no escapes, no line breaks.
    return clean_text(sentence)
