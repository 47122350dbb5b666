// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <openssl/x509.h>

#include "id.h"

namespace spiffe
{

struct X509Free {
    void operator()(X509 *cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Certificates in the order they arrived: for an SVID the leaf first, then
// its intermediates; for a bundle the CA certificates of one trust domain.
using Certificates = std::vector<X509Ptr>;

// Trust domain name -> the X.509 CA certificates of its bundle.
using BundleSet = std::map<std::string, Certificates, std::less<>>;

// Why an SVID (or its DER) was rejected. The kind is stable and short, for
// metric labels; the message says what exactly was wrong.
enum class SvidErrorKind {
    Malformed,      // not DER certificates, trailing bytes, invalid extensions
    UriSan,         // no URI SAN, or more than one
    SpiffeId,       // the URI SAN is not a SPIFFE ID, or has no path
    NotLeaf,        // basic constraints cA=true
    KeyUsage,       // digitalSignature missing, or keyCertSign/cRLSign set
    NoBundle,       // no bundle for the leaf's trust domain
    Expired,        // some certificate of the path is past NotAfter
    NotYetValid,    // some certificate of the path is before NotBefore
    UnknownCa,      // the chain does not lead to a CA of the bundle
    PathValidation, // any other RFC 5280 path validation failure
};
const char *svidErrorKindName(SvidErrorKind kind);

struct SvidError {
    SvidErrorKind kind;
    std::string message;
};

// Splits concatenated DER certificates (the Workload API's form of SVID
// chains and bundles). Empty input and trailing bytes that are not a
// certificate are errors.
std::variant<Certificates, SvidError> parseDerChain(std::span<const std::uint8_t> der);

// Adds the CA certificates of a trust domain (bare or spiffe://name) to a
// bundle set, from concatenated DER; replaces what the set held for it.
std::optional<SvidError> addBundle(BundleSet &bundles, std::string_view trustDomain,
                                   std::span<const std::uint8_t> der);

// Validates an X.509-SVID per X509-SVID.md: leaf rules (one URI SAN holding
// a SPIFFE ID with a path, not a CA, digitalSignature without keyCertSign or
// cRLSign), then RFC 5280 path validation at `at` against the bundle of the
// leaf's own trust domain only. Returns the leaf's SPIFFE ID.
std::variant<SpiffeId, SvidError> validateSvid(X509 *leaf, std::span<X509 *const> intermediates,
                                               const BundleSet &bundles,
                                               std::chrono::system_clock::time_point at);
// The same for a chain as parsed by parseDerChain (leaf first).
std::variant<SpiffeId, SvidError> validateSvid(const Certificates &chain, const BundleSet &bundles,
                                               std::chrono::system_clock::time_point at);

// The leaf rules alone (no path validation): the leaf's SPIFFE ID, or why it
// cannot be an SVID. For checking the node's own SVID from the Workload API.
std::variant<SpiffeId, SvidError> checkLeaf(X509 *leaf);

} // namespace spiffe
