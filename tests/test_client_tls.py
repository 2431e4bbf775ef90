"""
How tchat-client words a failed TLS connection (L{tchat.client.tls}), from
a failure reason and the certificates a server presented, without a
network; and how L{ChatClient} keeps that sentence for stderr. The same
failures against a real twistd are in tests/test_tls.py.
"""

from __future__ import annotations

import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from service_identity import VerificationError
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

from tchat.client.connection import ChatClient
from tchat.client.render import Renderer
from tchat.client.tls import ServerTLS

NOW = datetime.datetime.now(datetime.timezone.utc)
VERIFY_FAILED = SSL.Error([("SSL routines", "", "certificate verify failed")])


def certificate(common_name: str = "localhost", names: list[x509.GeneralName] | None = None) -> x509.Certificate:
    """A self-signed certificate valid today; ``names`` for its subjectAltName (None: no such extension)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=1))
    )
    if names is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256())


class Presented:
    """Stands in for the OpenSSL connection after a handshake: what the server sent."""

    def __init__(self, chain: list[x509.Certificate] | None) -> None:
        self.chain = chain

    def get_peer_cert_chain(self, as_cryptography: bool = False) -> list[x509.Certificate] | None:
        assert as_cryptography
        return self.chain


def server(chain: list[x509.Certificate] | None, host: str = "127.0.0.1", ca_file: str | None = None) -> ServerTLS:
    tls = ServerTLS(host, 6697, insecure=True)
    tls.ca_file = ca_file
    tls.connection = Presented(chain)  # type: ignore[assignment]
    return tls


class ExplainTests(TestCase):
    def test_a_name_mismatch_lists_the_certificates_names(self) -> None:
        cert = certificate(names=[x509.DNSName("localhost")])
        self.assertEqual(
            server([cert]).explain(Failure(VerificationError(errors=[]))),
            "the server's certificate is for localhost, not 127.0.0.1:"
            " connect with a name the certificate holds, or --insecure to skip the check",
        )

    def test_more_than_five_names_are_counted_not_listed(self) -> None:
        cert = certificate(names=[x509.DNSName(f"n{i}.example.org") for i in range(8)])
        sentence = server([cert]).explain(Failure(VerificationError(errors=[])))
        self.assertIn("is for n0.example.org, n1.example.org, n2.example.org, n3.example.org, n4.example.org and 3 more,", sentence)

    def test_a_certificate_with_only_a_common_name_is_said_to_name_no_host(self) -> None:
        sentence = server([certificate("localhost")], host="localhost").explain(Failure(VerificationError(errors=[])))
        self.assertEqual(
            sentence,
            "the server's certificate names no host (only the common name localhost, which clients no longer go by),"
            " so it is not for localhost: the server needs a certificate made for the name you connect to,"
            " or --insecure to skip the check",
        )

    def test_escape_sequences_in_a_certificates_names_never_reach_the_sentence(self) -> None:
        nasty = "evil\x1b]0;owned\x07\x1b[2J.example\r\norg"
        for cert in (certificate(nasty, names=[x509.DNSName(nasty)]), certificate(nasty)):
            sentence = server([cert]).explain(Failure(VerificationError(errors=[])))
            self.assertIn("evil", sentence)
            for bad in ("\x1b", "\x07", "\r", "\n", "owned"):
                self.assertNotIn(bad, sentence)

    def test_an_untrusted_certificate_names_the_ca_file_when_one_was_given(self) -> None:
        cert = certificate(names=[x509.DNSName("localhost")])
        self.assertIn("trusts (those in mine.pem): give the server's own certificate", server([cert], ca_file="mine.pem").explain(Failure(VERIFY_FAILED)))
        self.assertIn("trusts: give the server's certificate with --ca FILE", server([cert]).explain(Failure(VERIFY_FAILED)))

    def test_another_handshake_error_is_said_with_openssls_reason(self) -> None:
        error = SSL.Error([("SSL routines", "", "tlsv1 alert protocol version")])
        self.assertEqual(
            server([certificate()]).explain(Failure(error)),
            "the TLS handshake with 127.0.0.1:6697 failed (tlsv1 alert protocol version)",
        )

    def test_a_hang_up_before_any_certificate_suggests_a_plain_port(self) -> None:
        for reason in (ConnectionDone(), ConnectionLost()):
            self.assertIn("closed the connection before TLS was set up", server(None).explain(Failure(reason)))

    def test_a_hang_up_after_the_certificate_is_not_a_tls_failure(self) -> None:
        self.assertIsNone(server([certificate()]).explain(Failure(ConnectionLost())))
        self.assertIsNone(server(None).explain(Failure(ValueError("something else"))))


class ClientKeepsTheSentenceTests(TestCase):
    """L{ChatClient} with an ``explain_loss``: the sentence is kept for stderr, not shown."""

    def make(self, sentence: str | None) -> tuple[ChatClient, list[str]]:
        shown: list[str] = []

        class Display:
            def show(self, lines: list[str]) -> None:
                shown.extend(lines)

            def ask_name(self, problem: Any, code: Any) -> None:
                pass

            def changed(self) -> None:
                pass

        client = ChatClient(Renderer(), Clock(), "alice", explain_loss=lambda reason: sentence)
        client.start(Display())  # type: ignore[arg-type]
        client.makeConnection(StringTransport())
        return client, shown

    def test_a_tls_failure_before_any_answer_is_kept_as_the_problem(self) -> None:
        client, shown = self.make("the server's certificate is for localhost, not 127.0.0.1: …")
        client.connectionLost(Failure(VerificationError(errors=[])))
        self.assertEqual(client.problem, "the server's certificate is for localhost, not 127.0.0.1: …")
        self.assertEqual(shown, [])
        self.assertEqual(client.status, 1)

    def test_a_loss_it_cannot_explain_is_shown_as_before(self) -> None:
        client, shown = self.make(None)
        client.connectionLost(Failure(ConnectionLost()))
        self.assertIsNone(client.problem)
        self.assertIn("the connection closed before the server answered", shown[-1])
        self.assertEqual(client.status, 1)
