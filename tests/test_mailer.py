"""Outgoing mail through a real SMTP relay (aiosmtpd): STARTTLS, implicit TLS, login, and the
ways a relay can refuse. A self-signed certificate made by openssl plays the relay's."""
import ssl
import subprocess
from email import message_from_bytes
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

import mailer
from instance import free_port


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "relay.pem", folder / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class Handler:
    def __init__(self):
        self.mails = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


def check_login(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"ticketfrei" and auth_data.password == b"relay secret"
    return AuthResult(success=ok, handled=False)  # handled=True would mean "I replied already"


@pytest.fixture
def relay(certificate, request):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler()
    implicit = getattr(request, "param", "starttls") == "tls"
    # aiosmtpd does not count an implicit TLS connection as TLS when it decides to offer AUTH.
    options = dict(ssl_context=context, auth_require_tls=False) if implicit else dict(
        tls_context=context, require_starttls=True)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), auth_required=True,
                            authenticator=check_login, **options)
    controller.start()
    yield SimpleNamespace(port=controller.port, mails=handler.mails, cert=cert)
    controller.stop()


def settings_for(relay, security, password="relay secret", ca_file=None):
    mail = SimpleNamespace(sender="ticketfrei@example.org", relay_host="127.0.0.1",
                           relay_port=relay.port, relay_security=security,
                           relay_user="ticketfrei", relay_password=password,
                           relay_ca_file=str(relay.cert) if ca_file is None else ca_file)
    return SimpleNamespace(mail=mail, instance=SimpleNamespace(name="Ticketfrei"))


def send(settings):
    mailer.send(settings, mailer.message(settings, "orga@example.org", "Hallo", "Text"))


def test_mail_goes_through_starttls_with_login(relay):
    send(settings_for(relay, "starttls"))
    assert [m["Subject"] for m in relay.mails] == ["Hallo"]
    assert relay.mails[0]["Message-ID"] and relay.mails[0]["Date"]


@pytest.mark.parametrize("relay", ["tls"], indirect=True)
def test_mail_goes_through_implicit_tls_with_login(relay):
    send(settings_for(relay, "tls"))
    assert len(relay.mails) == 1


def test_wrong_relay_password_is_an_error_and_sends_nothing(relay):
    with pytest.raises(mailer.MailError):
        send(settings_for(relay, "starttls", password="wrong"))
    assert relay.mails == []


def test_relay_with_an_untrusted_certificate_is_refused(relay):
    with pytest.raises(mailer.MailError):
        send(settings_for(relay, "starttls", ca_file=""))  # the system's CAs only
    assert relay.mails == []


def test_relay_that_is_not_there_is_an_error():
    settings = settings_for(SimpleNamespace(port=free_port(), cert=""), "starttls", ca_file="")
    with pytest.raises(mailer.MailError):
        send(settings)
