// SPDX-License-Identifier: GPL-2.0-or-later
#include "cert_fixture.h"

#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

using namespace spiffe;

namespace fixture
{

namespace
{

void addExtension(X509 *cert, X509V3_CTX *ctx, int nid, const std::string &value)
{
    if (value.empty())
        return;
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
    REQUIRE(ext != nullptr);
    REQUIRE(X509_add_ext(cert, ext, -1) == 1);
    X509_EXTENSION_free(ext);
}

} // namespace

Issued issue(const Spec &spec, const Issued *issuer)
{
    static long serial = 1;
    Issued out;
    out.key.reset(EVP_EC_gen("P-256"));
    REQUIRE(out.key);
    out.cert.reset(X509_new());
    X509 *cert = out.cert.get();
    REQUIRE(X509_set_version(cert, X509_VERSION_3) == 1);
    REQUIRE(ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++) == 1);
    REQUIRE(ASN1_TIME_set(X509_getm_notBefore(cert), spec.notBefore) != nullptr);
    REQUIRE(ASN1_TIME_set(X509_getm_notAfter(cert), spec.notAfter) != nullptr);
    X509_NAME *name = X509_get_subject_name(cert);
    REQUIRE(X509_NAME_add_entry_by_txt(
                name, "CN", MBSTRING_ASC,
                reinterpret_cast<const unsigned char *>(spec.subject.c_str()), -1, -1, 0) == 1);
    X509 *signer = issuer ? issuer->cert.get() : cert;
    REQUIRE(X509_set_issuer_name(cert, X509_get_subject_name(signer)) == 1);
    REQUIRE(X509_set_pubkey(cert, out.key.get()) == 1);

    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, signer, cert, nullptr, nullptr, 0);
    addExtension(cert, &ctx, NID_basic_constraints, spec.basicConstraints);
    addExtension(cert, &ctx, NID_key_usage, spec.keyUsage);
    addExtension(cert, &ctx, NID_subject_alt_name, spec.san);
    addExtension(cert, &ctx, NID_subject_key_identifier, "hash");
    if (issuer)
        addExtension(cert, &ctx, NID_authority_key_identifier, "keyid:always");

    EVP_PKEY *signingKey = issuer ? issuer->key.get() : out.key.get();
    REQUIRE(X509_sign(cert, signingKey, EVP_sha256()) > 0);
    return out;
}

Spec caSpec(const std::string &td, const std::string &subject, std::time_t around)
{
    Spec s;
    s.subject = subject;
    s.san = "URI:spiffe://" + td;
    s.basicConstraints = "critical,CA:TRUE";
    s.keyUsage = "critical,keyCertSign,cRLSign";
    s.notBefore = around - 24 * hour;
    s.notAfter = around + 24 * hour;
    return s;
}

Spec leafSpec(const std::string &san, std::time_t around)
{
    Spec s;
    s.san = san;
    s.notBefore = around - hour;
    s.notAfter = around + hour;
    return s;
}

std::vector<std::uint8_t> der(const Issued &issued)
{
    int len = i2d_X509(issued.cert.get(), nullptr);
    REQUIRE(len > 0);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(len));
    unsigned char *p = out.data();
    REQUIRE(i2d_X509(issued.cert.get(), &p) == len);
    return out;
}

std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts)
{
    std::vector<std::uint8_t> out;
    for (const auto &part : parts)
        out.insert(out.end(), part.begin(), part.end());
    return out;
}

Certificates chainOf(std::initializer_list<const Issued *> certs)
{
    std::vector<std::uint8_t> bytes;
    for (const Issued *c : certs) {
        auto d = der(*c);
        bytes.insert(bytes.end(), d.begin(), d.end());
    }
    auto parsed = parseDerChain(bytes);
    REQUIRE(std::holds_alternative<Certificates>(parsed));
    return std::move(std::get<Certificates>(parsed));
}

} // namespace fixture
