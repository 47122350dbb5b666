// SPDX-License-Identifier: GPL-2.0-or-later
#include "svid.h"

#include <climits>
#include <ctime>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace spiffe
{

namespace
{

struct GeneralNamesFree {
    void operator()(GENERAL_NAMES *names) const { GENERAL_NAMES_free(names); }
};
struct StoreFree {
    void operator()(X509_STORE *store) const { X509_STORE_free(store); }
};
struct StoreCtxFree {
    void operator()(X509_STORE_CTX *ctx) const { X509_STORE_CTX_free(ctx); }
};
// Frees the stack only: the certificates in it are borrowed.
struct StackFree {
    void operator()(STACK_OF(X509) * stack) const { sk_X509_free(stack); }
};
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;
using StorePtr = std::unique_ptr<X509_STORE, StoreFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, StoreCtxFree>;
using StackPtr = std::unique_ptr<STACK_OF(X509), StackFree>;

SvidError fail(SvidErrorKind kind, std::string message)
{
    // Nothing we reject may leave stale entries for the next TLS call to trip on.
    ERR_clear_error();
    return SvidError{kind, std::move(message)};
}

std::string timeString(const ASN1_TIME *time)
{
    struct tm tm {
    };
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1)
        return "an unreadable time";
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string timeString(std::time_t t)
{
    struct tm tm {
    };
    gmtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// "the leaf" or "the certificate at depth 1 (subject /CN=...)", for path validation messages.
std::string describeCert(X509 *cert, int depth)
{
    if (depth == 0)
        return "the leaf";
    std::string out = "the certificate at depth " + std::to_string(depth);
    if (cert != nullptr) {
        char name[256];
        if (X509_NAME_oneline(X509_get_subject_name(cert), name, sizeof(name)) != nullptr)
            out += std::string(" (subject ") + name + ")";
    }
    return out;
}

SvidError pathError(X509_STORE_CTX *ctx, const std::string &trustDomain, std::time_t at)
{
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    std::string which = describeCert(cert, depth);
    std::string when = " (validated at " + timeString(at) + ")";
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return fail(SvidErrorKind::Expired,
                    which + " expired at " + timeString(cert ? X509_get0_notAfter(cert) : nullptr) +
                        when);
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return fail(SvidErrorKind::NotYetValid,
                    which + " is not valid before " +
                        timeString(cert ? X509_get0_notBefore(cert) : nullptr) + when);
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
        return fail(SvidErrorKind::UnknownCa, "the chain does not lead to a CA in the bundle of " +
                                                  trustDomain + ": " + which + ": " +
                                                  X509_verify_cert_error_string(err));
    default:
        return fail(SvidErrorKind::PathValidation, "path validation failed at " + which + ": " +
                                                       X509_verify_cert_error_string(err));
    }
}

} // namespace

const char *svidErrorKindName(SvidErrorKind kind)
{
    switch (kind) {
    case SvidErrorKind::Malformed:
        return "malformed";
    case SvidErrorKind::UriSan:
        return "uri_san";
    case SvidErrorKind::SpiffeId:
        return "spiffe_id";
    case SvidErrorKind::NotLeaf:
        return "not_leaf";
    case SvidErrorKind::KeyUsage:
        return "key_usage";
    case SvidErrorKind::NoBundle:
        return "no_bundle";
    case SvidErrorKind::Expired:
        return "expired";
    case SvidErrorKind::NotYetValid:
        return "not_yet_valid";
    case SvidErrorKind::UnknownCa:
        return "unknown_ca";
    case SvidErrorKind::PathValidation:
        return "path_validation";
    }
    return "unknown";
}

std::variant<Certificates, SvidError> parseDerChain(std::span<const std::uint8_t> der)
{
    if (der.empty())
        return fail(SvidErrorKind::Malformed, "no certificates (the DER is empty)");
    if (der.size() > static_cast<std::size_t>(LONG_MAX))
        return fail(SvidErrorKind::Malformed, "the DER is too large");
    Certificates certs;
    const unsigned char *p = der.data();
    const unsigned char *end = p + der.size();
    while (p < end) {
        std::size_t offset = static_cast<std::size_t>(p - der.data());
        X509 *cert = d2i_X509(nullptr, &p, static_cast<long>(end - p));
        if (cert == nullptr) {
            if (certs.empty())
                return fail(SvidErrorKind::Malformed, "the data is not a DER certificate");
            return fail(SvidErrorKind::Malformed, "the " + std::to_string(der.size() - offset) +
                                                      " bytes at offset " + std::to_string(offset) +
                                                      ", after " + std::to_string(certs.size()) +
                                                      " certificate(s), are not a DER certificate");
        }
        certs.emplace_back(cert);
    }
    return certs;
}

std::optional<SvidError> addBundle(BundleSet &bundles, std::string_view trustDomain,
                                   std::span<const std::uint8_t> der)
{
    auto td = parseTrustDomain(trustDomain);
    if (auto *err = std::get_if<IdError>(&td))
        return SvidError{SvidErrorKind::SpiffeId, "bundle trust domain: " + err->message};
    auto certs = parseDerChain(der);
    if (auto *err = std::get_if<SvidError>(&certs)) {
        err->message = "bundle of " + std::get<std::string>(td) + ": " + err->message;
        return std::move(*err);
    }
    bundles.insert_or_assign(std::move(std::get<std::string>(td)),
                             std::move(std::get<Certificates>(certs)));
    return std::nullopt;
}

std::variant<SpiffeId, SvidError> checkLeaf(X509 *leaf)
{
    if (leaf == nullptr)
        return fail(SvidErrorKind::Malformed, "there is no leaf certificate");
    std::uint32_t flags = X509_get_extension_flags(leaf);
    if (flags & EXFLAG_INVALID)
        return fail(SvidErrorKind::Malformed, "the leaf has an invalid or repeated extension");

    int critical = 0;
    GeneralNamesPtr names(static_cast<GENERAL_NAMES *>(
        X509_get_ext_d2i(leaf, NID_subject_alt_name, &critical, nullptr)));
    if (!names) {
        if (critical == -1)
            return fail(SvidErrorKind::UriSan, "the leaf has no subject alternative names, so no "
                                               "URI SAN with a SPIFFE ID");
        return fail(SvidErrorKind::Malformed,
                    "the leaf's subject alternative name extension is repeated or malformed");
    }
    const ASN1_IA5STRING *uri = nullptr;
    int uris = 0;
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names.get(), i);
        if (name->type == GEN_URI) {
            uri = name->d.uniformResourceIdentifier;
            uris++;
        }
    }
    if (uris == 0)
        return fail(SvidErrorKind::UriSan, "the leaf has no URI SAN (an SVID carries its SPIFFE "
                                           "ID as exactly one URI SAN)");
    if (uris > 1)
        return fail(SvidErrorKind::UriSan, "the leaf has " + std::to_string(uris) +
                                               " URI SANs; an SVID must have exactly one");

    std::string_view text(reinterpret_cast<const char *>(ASN1_STRING_get0_data(uri)),
                          static_cast<std::size_t>(ASN1_STRING_length(uri)));
    auto parsed = parseId(text);
    if (auto *err = std::get_if<IdError>(&parsed))
        return fail(SvidErrorKind::SpiffeId,
                    "the leaf's URI SAN is not a SPIFFE ID: " + err->message);
    auto &id = std::get<SpiffeId>(parsed);
    if (id.isRoot())
        return fail(SvidErrorKind::SpiffeId,
                    "the leaf's SPIFFE ID " + id.str() +
                        " has no path; a leaf SVID must name a workload, not the trust domain");

    if (flags & EXFLAG_CA)
        return fail(SvidErrorKind::NotLeaf,
                    "the leaf is a CA certificate (basic constraints cA=true)");
    if (!(flags & EXFLAG_KUSAGE))
        return fail(SvidErrorKind::KeyUsage,
                    "the leaf has no key usage extension (digitalSignature is required)");
    std::uint32_t usage = X509_get_key_usage(leaf);
    if (usage & KU_KEY_CERT_SIGN)
        return fail(SvidErrorKind::KeyUsage, "the leaf's key usage includes keyCertSign");
    if (usage & KU_CRL_SIGN)
        return fail(SvidErrorKind::KeyUsage, "the leaf's key usage includes cRLSign");
    if (!(usage & KU_DIGITAL_SIGNATURE))
        return fail(SvidErrorKind::KeyUsage, "the leaf's key usage lacks digitalSignature");
    return std::move(id);
}

std::variant<SpiffeId, SvidError> validateSvid(X509 *leaf, std::span<X509 *const> intermediates,
                                               const BundleSet &bundles,
                                               std::chrono::system_clock::time_point at)
{
    auto checked = checkLeaf(leaf);
    if (std::holds_alternative<SvidError>(checked))
        return checked;
    auto &id = std::get<SpiffeId>(checked);

    auto bundle = bundles.find(id.trustDomain);
    if (bundle == bundles.end() || bundle->second.empty())
        return fail(SvidErrorKind::NoBundle, "there is no X.509 bundle for trust domain " +
                                                 id.trustDomain + " (the leaf's ID is " + id.str() +
                                                 ")");

    StorePtr store(X509_STORE_new());
    StackPtr untrusted(sk_X509_new_null());
    StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!store || !untrusted || !ctx)
        return fail(SvidErrorKind::PathValidation, "out of memory");
    for (const auto &ca : bundle->second)
        if (X509_STORE_add_cert(store.get(), ca.get()) != 1)
            return fail(SvidErrorKind::PathValidation,
                        "cannot load the bundle of " + id.trustDomain);
    for (X509 *cert : intermediates)
        if (sk_X509_push(untrusted.get(), cert) <= 0)
            return fail(SvidErrorKind::PathValidation, "out of memory");
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1)
        return fail(SvidErrorKind::PathValidation, "cannot set up path validation");

    std::time_t when = std::chrono::system_clock::to_time_t(at);
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, when);
    // Every bundle certificate is a trust anchor, self-signed or not (as in go-spiffe).
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);

    if (X509_verify_cert(ctx.get()) != 1)
        return pathError(ctx.get(), id.trustDomain, when);
    ERR_clear_error();
    return std::move(id);
}

std::variant<SpiffeId, SvidError> validateSvid(const Certificates &chain, const BundleSet &bundles,
                                               std::chrono::system_clock::time_point at)
{
    if (chain.empty())
        return fail(SvidErrorKind::Malformed, "the SVID chain is empty");
    std::vector<X509 *> intermediates;
    intermediates.reserve(chain.size() - 1);
    for (std::size_t i = 1; i < chain.size(); i++)
        intermediates.push_back(chain[i].get());
    return validateSvid(chain.front().get(), intermediates, bundles, at);
}

} // namespace spiffe
