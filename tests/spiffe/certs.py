# SPDX-License-Identifier: GPL-2.0-or-later
"""Test PKI for the SPIFFE tests: a CA per trust domain (optionally with an
intermediate) and X.509-SVIDs shaped like the ones a SPIRE server issues.

Everything is ECDSA P-256. Each SVID comes in the Workload API's forms (DER
chain concatenated, PKCS#8 DER key, DER bundle) and in PEM, so tests can also
hand it to Python's ssl module or the openssl CLI (write_pem()).

    ca = CA("td.test")
    svid = ca.issue("spiffe://td.test/node/a")
    svid.chain_der, svid.key_der, svid.bundle_der, svid.cert_pem, svid.key_pem

Bad SVIDs for rejection tests: expired_svid(), wrong_td_svid(), ca_leaf_svid().
"""

import datetime
import os
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Far enough back that a fresh certificate is valid despite clock skew
# between this process and meshd's handshake.
SKEW = datetime.timedelta(seconds=30)


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def trust_domain_of(spiffe_id):
    """"spiffe://td.test/a/b" -> "td.test"; a bare trust domain name is returned as is."""
    if spiffe_id.startswith("spiffe://"):
        return spiffe_id[len("spiffe://"):].split("/", 1)[0]
    return spiffe_id


def new_key():
    return ec.generate_private_key(ec.SECP256R1())


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pkcs8_der(key):
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def key_pkcs8_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _serial():
    # Positive, at most 20 octets, never zero (RFC 5280 4.1.2.2).
    return secrets.randbits(127) | 1


def _validity(builder, not_before, not_after, default_ttl):
    nb = not_before if not_before is not None else now() - SKEW
    na = not_after if not_after is not None else now() + default_ttl
    return builder.not_valid_before(nb).not_valid_after(na)


class Svid:
    """One X.509-SVID with its key and the bundle that validates it."""

    def __init__(self, spiffe_id, chain, key, bundle, hint=""):
        self.spiffe_id = spiffe_id
        self.chain = list(chain)      # x509.Certificate, leaf first, then intermediates
        self.key = key
        self.bundle = list(bundle)    # the CA certificates of the issuing trust domain
        self.hint = hint

    @property
    def leaf(self):
        return self.chain[0]

    @property
    def chain_der(self):
        return b"".join(der(c) for c in self.chain)

    @property
    def key_der(self):
        return key_pkcs8_der(self.key)

    @property
    def bundle_der(self):
        return b"".join(der(c) for c in self.bundle)

    @property
    def cert_pem(self):
        return b"".join(pem(c) for c in self.chain)

    @property
    def key_pem(self):
        return key_pkcs8_pem(self.key)

    @property
    def bundle_pem(self):
        return b"".join(pem(c) for c in self.bundle)

    @property
    def serial(self):
        return self.leaf.serial_number

    @property
    def not_after(self):
        return self.leaf.not_valid_after.replace(tzinfo=datetime.timezone.utc)

    @property
    def not_before(self):
        return self.leaf.not_valid_before.replace(tzinfo=datetime.timezone.utc)

    def workload_entry(self, bundle_der=None, hint=None):
        """The tuple FakeAgent.set_svids() takes: (id, chain, key, bundle, hint)."""
        return (self.spiffe_id, self.chain_der, self.key_der,
                self.bundle_der if bundle_der is None else bundle_der,
                self.hint if hint is None else hint)

    def write_pem(self, directory, name=None):
        """Writes NAME.crt (chain), NAME.key and NAME.bundle.pem; returns the three paths."""
        name = name or self.spiffe_id.rsplit("/", 1)[-1] or "svid"
        os.makedirs(directory, exist_ok=True)
        paths = tuple(os.path.join(directory, name + ext) for ext in (".crt", ".key",
                                                                    ".bundle.pem"))
        for path, data in zip(paths, (self.cert_pem, self.key_pem, self.bundle_pem)):
            with open(path, "wb") as f:
                f.write(data)
        os.chmod(paths[1], 0o600)
        return paths


class CA:
    """The X.509 authority of one trust domain: a self-signed root and, optionally,
    an intermediate that signs the SVIDs (as SPIRE does under an UpstreamAuthority)."""

    def __init__(self, trust_domain, intermediate=False, not_before=None, not_after=None,
                 ttl=datetime.timedelta(days=7), name="SPIRE test CA"):
        self.trust_domain = trust_domain_of(trust_domain)
        self.root_key = new_key()
        self.root = self._ca_cert(self.root_key, self.root_key, None, name, not_before,
                                  not_after, ttl, path_length=None)
        self.intermediate = None
        self.intermediate_key = None
        if intermediate:
            self.intermediate_key = new_key()
            self.intermediate = self._ca_cert(self.intermediate_key, self.root_key, self.root,
                                              name + " intermediate", not_before, not_after,
                                              ttl, path_length=0)

    def _ca_cert(self, key, signer_key, signer, cn, not_before, not_after, ttl, path_length):
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIFFE"),
                             x509.NameAttribute(NameOID.COMMON_NAME, cn),
                             x509.NameAttribute(NameOID.SERIAL_NUMBER, str(_serial()))])
        issuer = signer.subject if signer is not None else subject
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
             .public_key(key.public_key()).serial_number(_serial()))
        b = _validity(b, not_before, not_after, ttl)
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=path_length),
                            critical=True)
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                          key_encipherment=False, data_encipherment=False,
                                          key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False,
                                          decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
        if signer is not None:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer_key.public_key()), critical=False)
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.UniformResourceIdentifier(f"spiffe://{self.trust_domain}")]), critical=False)
        return b.sign(signer_key, hashes.SHA256())

    @property
    def bundle(self):
        """The trust bundle: the root only (intermediates travel in the SVID chain)."""
        return [self.root]

    @property
    def bundle_der(self):
        return der(self.root)

    @property
    def bundle_pem(self):
        return pem(self.root)

    def spiffe_id(self, path):
        if path.startswith("spiffe://"):
            return path
        return f"spiffe://{self.trust_domain}/{path.lstrip('/')}"

    def issue(self, path, not_before=None, not_after=None, ttl=datetime.timedelta(hours=1),
              hint="", key=None, ca=False, uris=None, key_usage=None, eku=True):
        """An X.509-SVID for PATH (or a full spiffe:// ID) as SPIRE issues it.

        The knobs after `key` exist to make invalid SVIDs: ca=True sets
        basicConstraints cA, uris replaces the URI SANs, key_usage replaces
        the KeyUsage extension (a KeyUsage object), eku=False omits extendedKeyUsage.
        """
        spiffe_id = self.spiffe_id(path)
        key = key or new_key()
        signer_key = self.intermediate_key or self.root_key
        signer = self.intermediate or self.root
        subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                             x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SPIRE"),
                             x509.NameAttribute(NameOID.SERIAL_NUMBER, str(_serial()))])
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(signer.subject)
             .public_key(key.public_key()).serial_number(_serial()))
        b = _validity(b, not_before, not_after, ttl)
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        if key_usage is None:
            key_usage = x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=True, data_encipherment=False,
                                      key_agreement=True, key_cert_sign=ca, crl_sign=False,
                                      encipher_only=False, decipher_only=False)
        b = b.add_extension(key_usage, critical=True)
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                       ExtendedKeyUsageOID.CLIENT_AUTH]),
                                critical=False)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                            critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            signer_key.public_key()), critical=False)
        names = [spiffe_id] if uris is None else uris
        if names:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(u) for u in names]), critical=False)
        leaf = b.sign(signer_key, hashes.SHA256())
        chain = [leaf] + ([self.intermediate] if self.intermediate is not None else [])
        return Svid(spiffe_id, chain, key, self.bundle, hint)


# Bad SVIDs: each one is signed properly, so that exactly one thing is wrong.

def expired_svid(ca, path, ago=datetime.timedelta(hours=1)):
    """Signed by CA but past its NotAfter (valid for one hour, ending AGO ago)."""
    end = now() - ago
    return ca.issue(path, not_before=end - datetime.timedelta(hours=1), not_after=end)


def not_yet_valid_svid(ca, path, ahead=datetime.timedelta(hours=1)):
    start = now() + ahead
    return ca.issue(path, not_before=start, not_after=start + datetime.timedelta(hours=1))


def wrong_td_svid(path, trust_domain="other.test"):
    """An SVID of another trust domain, from a CA of its own (returned as svid.issuer)."""
    other = CA(trust_domain)
    svid = other.issue(path if path.startswith("spiffe://") else
                       f"spiffe://{other.trust_domain}/{path.lstrip('/')}")
    svid.issuer = other
    return svid


def ca_leaf_svid(ca, path):
    """A 'leaf' with basicConstraints cA=TRUE: not an SVID per X509-SVID.md."""
    return ca.issue(path, ca=True)


def foreign_ca_svid(trust_domain, path):
    """Claims TRUST_DOMAIN but is signed by a CA nobody trusts (an impostor)."""
    impostor = CA(trust_domain)
    svid = impostor.issue(path)
    svid.issuer = impostor
    return svid
