// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "asn1_time.h"

#include <cstring>

#include <openssl/err.h>

#include <openssl/x509.h>

#include "cert_fixture.h"
#include "secure_heap.h"
#include "svid.h"

using namespace spiffe;
using namespace fixture;

namespace
{

// Two trust domains, each with a root; td.example also has an intermediate.
struct Pki {
    Issued root = issue(caSpec("td.example", "td root"));
    Issued intermediate = issue(caSpec("td.example", "td intermediate"), &root);
    Issued otherRoot = issue(caSpec("other.example", "other root"));
    BundleSet bundles;

    Pki()
    {
        REQUIRE_FALSE(addBundle(bundles, "td.example", der(root)));
        REQUIRE_FALSE(addBundle(bundles, "spiffe://other.example", der(otherRoot)));
    }
};

std::variant<SpiffeId, SvidError> validate(std::initializer_list<const Issued *> chain,
                                           const BundleSet &bundles)
{
    return validateSvid(chainOf(chain), bundles, at);
}

std::string accepted(const std::variant<SpiffeId, SvidError> &result)
{
    if (auto *id = std::get_if<SpiffeId>(&result))
        return id->str();
    const auto &err = std::get<SvidError>(result);
    return std::string("rejected (") + svidErrorKindName(err.kind) + "): " + err.message;
}

// The error of a rejected SVID; fails the test when it was accepted.
SvidError rejected(const std::variant<SpiffeId, SvidError> &result)
{
    INFO(accepted(result));
    REQUIRE(std::holds_alternative<SvidError>(result));
    // A rejection must not leave OpenSSL errors behind for the next TLS call.
    CHECK(ERR_peek_error() == 0);
    return std::get<SvidError>(result);
}

} // namespace

TEST_CASE("a leaf signed by its trust domain's root is valid", "[spiffe]")
{
    Pki pki;
    auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &pki.root);
    auto result = validate({&leaf}, pki.bundles);
    CHECK(accepted(result) == "spiffe://td.example/node/a");

    // Other SAN types are allowed beside the one URI SAN.
    auto withDns =
        issue(leafSpec("DNS:node-a.example,URI:spiffe://td.example/node/a,IP:10.0.0.1"), &pki.root);
    CHECK(accepted(validate({&withDns}, pki.bundles)) == "spiffe://td.example/node/a");

    // keyEncipherment and keyAgreement may accompany digitalSignature.
    Spec extra = leafSpec("URI:spiffe://td.example/node/a");
    extra.keyUsage = "critical,digitalSignature,keyEncipherment,keyAgreement";
    auto extraUsage = issue(extra, &pki.root);
    CHECK(accepted(validate({&extraUsage}, pki.bundles)) == "spiffe://td.example/node/a");
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("a leaf signed by an intermediate is valid with the intermediate in the chain",
          "[spiffe]")
{
    Pki pki;
    auto leaf = issue(leafSpec("URI:spiffe://td.example/node/b"), &pki.intermediate);
    CHECK(accepted(validate({&leaf, &pki.intermediate}, pki.bundles)) ==
          "spiffe://td.example/node/b");

    // The same through the raw-pointer entry point that a TLS verify callback uses.
    X509 *intermediates[] = {pki.intermediate.cert.get()};
    auto raw = validateSvid(leaf.cert.get(), intermediates, pki.bundles, at);
    CHECK(accepted(raw) == "spiffe://td.example/node/b");

    SECTION("without the intermediate the chain does not reach the root")
    {
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::UnknownCa);
        CHECK_THAT(err.message, Catch::Contains("bundle of td.example"));
    }
    SECTION("a bundle certificate is a trust anchor even when it is not self-signed")
    {
        BundleSet onlyIntermediate;
        REQUIRE_FALSE(addBundle(onlyIntermediate, "td.example", der(pki.intermediate)));
        CHECK(accepted(validate({&leaf}, onlyIntermediate)) == "spiffe://td.example/node/b");
    }
    SECTION("a two-level intermediate chain")
    {
        auto second = issue(caSpec("td.example", "td intermediate 2"), &pki.intermediate);
        auto deep = issue(leafSpec("URI:spiffe://td.example/node/c"), &second);
        CHECK(accepted(validate({&deep, &second, &pki.intermediate}, pki.bundles)) ==
              "spiffe://td.example/node/c");
    }
}

TEST_CASE("the leaf must carry exactly one URI SAN holding a SPIFFE ID with a path", "[spiffe]")
{
    Pki pki;
    struct Case {
        std::string san;
        SvidErrorKind kind;
        std::string message;
    };
    auto [san, kind, message] = GENERATE(values<Case>({
        {"URI:spiffe://td.example/node/a,URI:spiffe://td.example/node/b", SvidErrorKind::UriSan,
         "has 2 URI SANs"},
        {"URI:spiffe://td.example/node/a,URI:https://td.example/x", SvidErrorKind::UriSan,
         "has 2 URI SANs"},
        {"", SvidErrorKind::UriSan, "no subject alternative names"},
        {"DNS:node-a.example", SvidErrorKind::UriSan, "no URI SAN"},
        {"URI:https://td.example/node/a", SvidErrorKind::SpiffeId, "must start with 'spiffe://'"},
        {"URI:SPIFFE://td.example/node/a", SvidErrorKind::SpiffeId, "scheme must be lower-case"},
        {"URI:spiffe://td.example/node/", SvidErrorKind::SpiffeId, "must not end with '/'"},
        {"URI:spiffe://td.example", SvidErrorKind::SpiffeId, "has no path"},
    }));
    CAPTURE(san);
    auto leaf = issue(leafSpec(san), &pki.root);
    auto err = rejected(validate({&leaf}, pki.bundles));
    CHECK(err.kind == kind);
    CHECK_THAT(err.message, Catch::Contains(message));
}

TEST_CASE("the leaf must not be a CA and must have digitalSignature only for signing", "[spiffe]")
{
    Pki pki;
    struct Case {
        std::string basicConstraints, keyUsage;
        SvidErrorKind kind;
        std::string message;
    };
    auto [bc, ku, kind, message] = GENERATE(values<Case>({
        {"critical,CA:TRUE", "critical,digitalSignature", SvidErrorKind::NotLeaf, "cA=true"},
        {"CA:TRUE", "critical,digitalSignature,keyCertSign", SvidErrorKind::NotLeaf, "cA=true"},
        {"critical,CA:FALSE", "critical,digitalSignature,keyCertSign", SvidErrorKind::KeyUsage,
         "keyCertSign"},
        {"", "critical,digitalSignature,keyCertSign", SvidErrorKind::KeyUsage, "keyCertSign"},
        {"critical,CA:FALSE", "critical,digitalSignature,cRLSign", SvidErrorKind::KeyUsage,
         "cRLSign"},
        {"critical,CA:FALSE", "critical,keyEncipherment", SvidErrorKind::KeyUsage,
         "lacks digitalSignature"},
        {"critical,CA:FALSE", "critical,keyAgreement", SvidErrorKind::KeyUsage,
         "lacks digitalSignature"},
        {"critical,CA:FALSE", "", SvidErrorKind::KeyUsage, "no key usage extension"},
    }));
    CAPTURE(bc, ku);
    Spec spec = leafSpec("URI:spiffe://td.example/node/a");
    spec.basicConstraints = bc;
    spec.keyUsage = ku;
    auto leaf = issue(spec, &pki.root);
    auto err = rejected(validate({&leaf}, pki.bundles));
    CHECK(err.kind == kind);
    CHECK_THAT(err.message, Catch::Contains(message));
}

TEST_CASE("a leaf without basic constraints is a leaf", "[spiffe]")
{
    Pki pki;
    Spec spec = leafSpec("URI:spiffe://td.example/node/a");
    spec.basicConstraints = "";
    auto leaf = issue(spec, &pki.root);
    CHECK(accepted(validate({&leaf}, pki.bundles)) == "spiffe://td.example/node/a");
}

TEST_CASE("only the bundle of the leaf's own trust domain is used", "[spiffe]")
{
    Pki pki;
    SECTION("signed by td.example's CA but claims other.example, which has a bundle")
    {
        auto leaf = issue(leafSpec("URI:spiffe://other.example/node/a"), &pki.root);
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::UnknownCa);
        CHECK_THAT(err.message, Catch::Contains("bundle of other.example"));
    }
    SECTION("signed by td.example's CA but claims a trust domain without a bundle")
    {
        auto leaf = issue(leafSpec("URI:spiffe://third.example/node/a"), &pki.root);
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::NoBundle);
        CHECK_THAT(err.message, Catch::Contains("no X.509 bundle for trust domain third.example"));
    }
    SECTION("claims td.example but chains to the foreign bundle of other.example")
    {
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &pki.otherRoot);
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::UnknownCa);
        CHECK_THAT(err.message, Catch::Contains("bundle of td.example"));
    }
    SECTION("claims td.example, chains through an intermediate of other.example")
    {
        auto foreignIntermediate = issue(caSpec("other.example", "other int"), &pki.otherRoot);
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &foreignIntermediate);
        auto err = rejected(validate({&leaf, &foreignIntermediate}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::UnknownCa);
    }
    SECTION("an empty bundle is no bundle")
    {
        pki.bundles["td.example"].clear();
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &pki.root);
        CHECK(rejected(validate({&leaf}, pki.bundles)).kind == SvidErrorKind::NoBundle);
    }
}

TEST_CASE("validity periods are checked at the given time", "[spiffe]")
{
    Pki pki;
    SECTION("expired leaf")
    {
        Spec spec = leafSpec("URI:spiffe://td.example/node/a");
        spec.notBefore = now - 2 * hour;
        spec.notAfter = now - 1;
        auto leaf = issue(spec, &pki.root);
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::Expired);
        CHECK_THAT(err.message, Catch::StartsWith("the leaf expired at 2025-06-15T15:06:39Z"));
        // The same leaf was fine while it was valid.
        auto earlier = validateSvid(chainOf({&leaf}), pki.bundles, at - std::chrono::hours(1));
        CHECK(accepted(earlier) == "spiffe://td.example/node/a");
    }
    SECTION("leaf not yet valid")
    {
        Spec spec = leafSpec("URI:spiffe://td.example/node/a");
        spec.notBefore = now + 60;
        spec.notAfter = now + 2 * hour;
        auto leaf = issue(spec, &pki.root);
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::NotYetValid);
        CHECK_THAT(err.message, Catch::Contains("not valid before 2025-06-15T15:07:40Z"));
        auto later = validateSvid(chainOf({&leaf}), pki.bundles, at + std::chrono::minutes(2));
        CHECK(accepted(later) == "spiffe://td.example/node/a");
    }
    SECTION("expired intermediate")
    {
        Spec spec = caSpec("td.example", "old intermediate");
        spec.notBefore = now - 48 * hour;
        spec.notAfter = now - hour;
        auto old = issue(spec, &pki.root);
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &old);
        auto err = rejected(validate({&leaf, &old}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::Expired);
        CHECK_THAT(err.message, Catch::Contains("the certificate at depth 1"));
        CHECK_THAT(err.message, Catch::Contains("old intermediate"));
    }
    SECTION("expired root in the bundle")
    {
        Spec spec = caSpec("td.example", "old root");
        spec.notBefore = now - 48 * hour;
        spec.notAfter = now - hour;
        auto oldRoot = issue(spec);
        BundleSet bundles;
        REQUIRE_FALSE(addBundle(bundles, "td.example", der(oldRoot)));
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &oldRoot);
        CHECK(rejected(validate({&leaf}, bundles)).kind == SvidErrorKind::Expired);
    }
}

TEST_CASE("forged and malformed chains are rejected", "[spiffe]")
{
    Pki pki;
    SECTION("signed by an impostor CA with the root's name")
    {
        auto impostor = issue(caSpec("td.example", "td root"));
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &impostor);
        auto err = rejected(validate({&leaf}, pki.bundles));
        CHECK((err.kind == SvidErrorKind::UnknownCa || err.kind == SvidErrorKind::PathValidation));
    }
    SECTION("a self-signed leaf")
    {
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"));
        CHECK(rejected(validate({&leaf}, pki.bundles)).kind == SvidErrorKind::UnknownCa);
    }
    SECTION("an intermediate that is not a CA")
    {
        Spec notCa = leafSpec("URI:spiffe://td.example/signer");
        notCa.keyUsage = "critical,digitalSignature";
        auto signer = issue(notCa, &pki.root);
        auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &signer);
        auto err = rejected(validate({&leaf, &signer}, pki.bundles));
        CHECK(err.kind == SvidErrorKind::PathValidation);
        CHECK_THAT(err.message, Catch::Contains("depth 1"));
    }
    SECTION("an empty chain")
    {
        auto err = rejected(validateSvid(Certificates{}, pki.bundles, at));
        CHECK(err.kind == SvidErrorKind::Malformed);
    }
}

TEST_CASE("checkLeaf applies the leaf rules without a bundle", "[spiffe]")
{
    Pki pki;
    auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &pki.root);
    CHECK(accepted(checkLeaf(leaf.cert.get())) == "spiffe://td.example/node/a");
    CHECK(rejected(checkLeaf(pki.root.cert.get())).kind == SvidErrorKind::SpiffeId);
    CHECK(rejected(checkLeaf(nullptr)).kind == SvidErrorKind::Malformed);
}

TEST_CASE("concatenated DER is split into certificates", "[spiffe]")
{
    Pki pki;
    auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &pki.intermediate);
    auto bytes = concat({der(leaf), der(pki.intermediate), der(pki.root)});
    auto parsed = parseDerChain(bytes);
    REQUIRE(std::holds_alternative<Certificates>(parsed));
    auto &certs = std::get<Certificates>(parsed);
    REQUIRE(certs.size() == 3);
    CHECK(X509_cmp(certs[0].get(), leaf.cert.get()) == 0);
    CHECK(X509_cmp(certs[1].get(), pki.intermediate.cert.get()) == 0);
    CHECK(X509_cmp(certs[2].get(), pki.root.cert.get()) == 0);

    auto one = parseDerChain(der(leaf));
    REQUIRE(std::holds_alternative<Certificates>(one));
    CHECK(std::get<Certificates>(one).size() == 1);
}

TEST_CASE("garbage DER is rejected", "[spiffe]")
{
    Pki pki;
    auto leaf = issue(leafSpec("URI:spiffe://td.example/node/a"), &pki.root);
    auto leafDer = der(leaf);
    auto error = [](const std::vector<std::uint8_t> &bytes) {
        auto parsed = parseDerChain(bytes);
        REQUIRE(std::holds_alternative<SvidError>(parsed));
        CHECK(ERR_peek_error() == 0);
        auto err = std::get<SvidError>(parsed);
        CHECK(err.kind == SvidErrorKind::Malformed);
        return err.message;
    };

    CHECK_THAT(error({}), Catch::Contains("empty"));
    const char *text = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    CHECK_THAT(error(std::vector<std::uint8_t>(text, text + strlen(text))),
               Catch::Contains("not a DER certificate"));
    CHECK_THAT(error({0x30, 0x03, 0x02, 0x01, 0x01}), Catch::Contains("not a DER certificate"));
    CHECK_THAT(error({0xff}), Catch::Contains("not a DER certificate"));

    auto truncated = leafDer;
    truncated.resize(truncated.size() - 1);
    CHECK_THAT(error(truncated), Catch::Contains("not a DER certificate"));

    auto trailing = concat({leafDer, der(pki.root), {0x00, 0x00}});
    CHECK(error(trailing) == "the 2 bytes at offset " + std::to_string(trailing.size() - 2) +
                                 ", after 2 certificate(s), are not a DER certificate");

    auto halfSecond = concat({leafDer, leafDer});
    halfSecond.resize(leafDer.size() + leafDer.size() / 2);
    CHECK_THAT(error(halfSecond), Catch::Contains("after 1 certificate(s)"));
}

TEST_CASE("bundles are keyed by trust domain name", "[spiffe]")
{
    Pki pki;
    CHECK(pki.bundles.contains("td.example"));
    CHECK(pki.bundles.contains("other.example"));
    CHECK(pki.bundles.size() == 2);

    // A new bundle for a trust domain replaces the old one.
    REQUIRE_FALSE(
        addBundle(pki.bundles, "td.example", concat({der(pki.otherRoot), der(pki.root)})));
    CHECK(pki.bundles.at("td.example").size() == 2);

    auto badName = addBundle(pki.bundles, "TD.example", der(pki.root));
    REQUIRE(badName);
    CHECK(badName->kind == SvidErrorKind::SpiffeId);
    CHECK_THAT(badName->message, Catch::StartsWith("bundle trust domain: "));

    auto badDer = addBundle(pki.bundles, "third.example", std::vector<std::uint8_t>{1, 2, 3});
    REQUIRE(badDer);
    CHECK(badDer->kind == SvidErrorKind::Malformed);
    CHECK_THAT(badDer->message, Catch::StartsWith("bundle of third.example: "));
    CHECK_FALSE(pki.bundles.contains("third.example"));
    CHECK(ERR_peek_error() == 0);
}

TEST_CASE("SVID error kinds have stable names", "[spiffe]")
{
    CHECK(std::string(svidErrorKindName(SvidErrorKind::Malformed)) == "malformed");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::UriSan)) == "uri_san");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::SpiffeId)) == "spiffe_id");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::NotLeaf)) == "not_leaf");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::KeyUsage)) == "key_usage");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::NoBundle)) == "no_bundle");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::Expired)) == "expired");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::NotYetValid)) == "not_yet_valid");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::UnknownCa)) == "unknown_ca");
    CHECK(std::string(svidErrorKindName(SvidErrorKind::PathValidation)) == "path_validation");
}

TEST_CASE("NotAfter past 2262 is far in the future, not in the past", "[spiffe][svid][hostile]")
{
    using clock = std::chrono::system_clock;
    auto at = [](const char *text) {
        ASN1_TIME *t = ASN1_TIME_new();
        REQUIRE(ASN1_TIME_set_string(t, text) == 1);
        auto tp = spiffe::asn1TimePoint(t);
        ASN1_TIME_free(t);
        return tp;
    };
    // RFC 5280 4.1.2.5: "no well-defined expiration date". Once it wrapped
    // into the past and made a valid peer look expired.
    CHECK(at("99991231235959Z") == clock::time_point::max());
    CHECK(at("99991231235959Z") > clock::now());
    CHECK(at("22620411234716Z") > clock::now());
    CHECK(clock::to_time_t(at("20300101000000Z")) == 1893456000);
    CHECK(clock::to_time_t(at("19700101000000Z")) == 0);
    CHECK(spiffe::asn1TimePoint(nullptr) == clock::time_point{});
}

TEST_CASE("secure heap: private keys made or parsed after it is set up live in it", "[svid]")
{
    SecureHeap heap = initSecureHeap();
    REQUIRE(heap.active);
    CHECK(heap.bytes >= 256 * 1024);
    CHECK(initSecureHeap().bytes == heap.bytes); // a second call changes nothing

    std::size_t before = secureHeapUsed();
    Issued leaf = issue(leafSpec("URI:spiffe://td.example/node/a"));
    std::size_t withGenerated = secureHeapUsed();
    CHECK(withGenerated > before);

    // The Workload API's path: PKCS#8 DER to EVP_PKEY.
    unsigned char *der = nullptr;
    PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(leaf.key.get());
    REQUIRE(p8);
    int len = i2d_PKCS8_PRIV_KEY_INFO(p8, &der);
    PKCS8_PRIV_KEY_INFO_free(p8);
    REQUIRE(len > 0);
    const unsigned char *p = der;
    PKCS8_PRIV_KEY_INFO *back = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, len);
    OPENSSL_clear_free(der, static_cast<std::size_t>(len));
    REQUIRE(back);
    PrivateKey parsed(EVP_PKCS82PKEY(back));
    PKCS8_PRIV_KEY_INFO_free(back);
    REQUIRE(parsed);
    std::size_t withParsed = secureHeapUsed();
    CHECK(withParsed > withGenerated);
    // A freed key gives its blocks back.
    parsed.reset();
    CHECK(secureHeapUsed() < withParsed);
}
