"""The station's own TLS: a CA made at its first start, and the server certificate that CA
signs for the station's names and addresses.

The files live beside the database, never in it: `<db>.tls/` (folder 0700, each file
0600). The CA's private key signs the server certificate here and goes nowhere else;
terminals get only the CA certificate (`ca.der`, DER: the unix port's mbedTLS parses no
PEM), which `pumpside provision` pins on them (config station_ca). Later starts reuse
the CA; the server certificate is reused while it names every address asked for and has
more than RENEW_DAYS left, and is issued again (same CA, new key) otherwise: a terminal
pinned to the CA takes the new one without a visit.

Keys are ECDSA P-256 (mbedTLS's fastest handshake on a board). The certificates are
valid from 1999-12-31: a board whose clock has not been set yet (MicroPython's epoch is
2000-01-01 on the esp32) still finds them valid. The CA does not expire (9999-12-31,
RFC 5280 4.1.2.5): replacing it means provisioning every terminal again.
"""
import datetime
import ipaddress
import os
import socket
import ssl
from pathlib import Path

from .keyring import private_file

CA_KEY = "ca.key"  # PEM, the CA's private key: never leaves this folder
CA_CERT = "ca.pem"
CA_DER = "ca.der"  # what provision writes to a terminal (station_ca)
KEY = "station.key"  # the server certificate's key (PEM)
CERT = "station.pem"
VALID_FROM = datetime.datetime(1999, 12, 31, tzinfo=datetime.UTC)
CA_UNTIL = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)
SERVER_DAYS = 5 * 365
RENEW_DAYS = 365


class TlsFilesError(ValueError):
    """The station's TLS folder cannot be used as it is: the message says what to do."""


def folder_of(db_path):
    """The station's TLS folder for its database file."""
    return str(db_path) + ".tls"


def station_names(host=None, extra=()):
    """The names a terminal may reach this station by: loopback, the host name (and the
    addresses it resolves to here), the address it listens on unless that is a wildcard,
    and `extra` (--tls-name)."""
    names = ["127.0.0.1", "localhost"]
    hostname = socket.gethostname()
    if hostname:
        names.append(hostname)
        try:
            names += socket.gethostbyname_ex(hostname)[2]
        except OSError:  # a host name this machine cannot resolve: named all the same
            pass
    if host and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    names += list(extra)
    out = []
    for name in names:
        if name not in out:
            out.append(name)
    return out


def _general_name(name):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


class StationTls:
    """The TLS folder of one station (`folder`, e.g. folder_of(db))."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, name):
        return self.folder / name

    def _write(self, name, data):
        """A file of the folder, 0600 from its creation, whole or not at all."""
        path = self._path(name)
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)  # an old .part may have had other bits
        os.replace(tmp, path)

    def _read(self, name):
        path = self._path(name)

        def refuse(mode):
            return TlsFilesError("%s is open to others (mode %03o): the station's TLS files "
                                 "must be 0600 (chmod 600 %s)" % (path, mode, path))

        return private_file(path, refuse)

    def _open_folder(self):
        if not self.folder.exists():
            self.folder.mkdir(mode=0o700, parents=True)
        if not self.folder.is_dir():
            raise TlsFilesError("%s is not a folder: the station keeps its CA there"
                                % self.folder)

    # -- the CA -----------------------------------------------------------------------
    def ca(self):
        """The CA (key, certificate): made at the first call, read at every later one."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        self._open_folder()
        have_key, have_cert = self._path(CA_KEY).exists(), self._path(CA_CERT).exists()
        if have_key != have_cert:
            raise TlsFilesError(
                "%s holds the CA's %s but not its %s: restore it from a backup (a new CA "
                "means provisioning every terminal again: move the folder away to make "
                "one)" % (self.folder, "key" if have_key else "certificate",
                          "certificate" if have_key else "key"))
        if not have_key:
            return self._make_ca()
        try:
            key = serialization.load_pem_private_key(self._read(CA_KEY), None)
            cert = x509.load_pem_x509_certificate(self._read(CA_CERT))
        except ValueError as e:
            if isinstance(e, TlsFilesError):
                raise
            raise TlsFilesError("%s: the CA's files are damaged (%s): restore them from a "
                                "backup" % (self.folder, e)) from None
        if not self._path(CA_DER).exists():
            self._write(CA_DER, cert.public_bytes(serialization.Encoding.DER))
        return key, cert

    def _make_ca(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pumpside station"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "pumpside station CA %s"
                                             % os.urandom(4).hex())])
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(VALID_FROM).not_valid_after(CA_UNTIL)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        # the key first: a cut between the two leaves a key without a certificate, which
        # ca() refuses rather than silently making a second CA
        self._write(CA_KEY, key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        self._write(CA_DER, cert.public_bytes(serialization.Encoding.DER))
        self._write(CA_CERT, cert.public_bytes(serialization.Encoding.PEM))
        return key, cert

    def ca_der(self):
        """The CA certificate (DER) that terminals pin; made with the CA if there is none."""
        self.ca()
        return self._read(CA_DER)

    # -- the server certificate ---------------------------------------------------------
    def names(self):
        """The names and addresses the current server certificate is valid for ([] if none)."""
        cert = self._server_cert()
        return [] if cert is None else _sans(cert)

    def _server_cert(self):
        from cryptography import x509

        if not (self._path(CERT).exists() and self._path(KEY).exists()):
            return None
        try:
            return x509.load_pem_x509_certificate(self._read(CERT))
        except ValueError as e:
            if isinstance(e, TlsFilesError):
                raise
            return None  # damaged: it is derived, so it is issued again

    def server(self, names, now=None):
        """(certificate file, key file) of a server certificate signed by the CA that names
        every one of `names` (station_names()); reused when it does and is not near its
        end, else issued again (keeping the names it had)."""
        from cryptography.hazmat.primitives import serialization

        ca_key, ca_cert = self.ca()
        now = now or datetime.datetime.now(datetime.UTC)
        cert = self._server_cert()
        if cert is not None:
            have = _sans(cert)
            fresh = cert.not_valid_after_utc - now > datetime.timedelta(days=RENEW_DAYS)
            signed = cert.issuer == ca_cert.subject
            if fresh and signed and all(n in have for n in names):
                self._read(KEY)  # its mode checked
                return str(self._path(CERT)), str(self._path(KEY))
            names = have + [n for n in names if n not in have] if signed else list(names)
        key, cert = self._issue(ca_key, ca_cert, names, now)
        self._write(KEY, key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        self._write(CERT, cert.public_bytes(serialization.Encoding.PEM))
        return str(self._path(CERT)), str(self._path(KEY))

    def _issue(self, ca_key, ca_cert, names, now):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(VALID_FROM)
                .not_valid_after(now + datetime.timedelta(days=SERVER_DAYS))
                .add_extension(x509.SubjectAlternativeName(
                    [_general_name(n) for n in names]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                    ca_ski), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return key, cert

    def context(self, names):
        """The station's ssl server context with its own certificate for `names`."""
        cert, key = self.server(names)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx


def _sans(cert):
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.IPAddress)] + \
        san.get_values_for_type(x509.DNSName)


def station_tls(db_path):
    """The TLS folder of the station whose database is `db_path`."""
    return StationTls(folder_of(db_path))
