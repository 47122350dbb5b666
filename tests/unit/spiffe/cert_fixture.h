// SPDX-License-Identifier: GPL-2.0-or-later
// Certificates minted at run time for the SPIFFE tests: ECDSA P-256, as SPIRE issues them.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <string>
#include <vector>

#include "identity.h"
#include "svid.h"

namespace fixture
{

// A fixed instant for tests that validate at a given time (2025-06-15).
inline constexpr std::time_t now = 1750000000;
inline const auto at = std::chrono::system_clock::from_time_t(now);
inline constexpr std::time_t hour = 3600;

struct Issued {
    spiffe::X509Ptr cert;
    spiffe::PrivateKey key;
};

struct Spec {
    std::string subject = "leaf";
    std::string san = "URI:spiffe://td.example/node/a"; // empty: no SAN extension
    std::string basicConstraints = "critical,CA:FALSE"; // empty: no extension
    std::string keyUsage = "critical,digitalSignature"; // empty: no extension
    std::time_t notBefore = now - hour;
    std::time_t notAfter = now + hour;
};

// A certificate made to `spec`, signed by `issuer` (self-signed when null).
Issued issue(const Spec &spec, const Issued *issuer = nullptr);

// A CA of trust domain `td`, valid a day either side of `around`.
Spec caSpec(const std::string &td, const std::string &subject, std::time_t around = now);
// A leaf with this SAN, valid an hour either side of `around`.
Spec leafSpec(const std::string &san, std::time_t around = now);

std::vector<std::uint8_t> der(const Issued &issued);
std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts);
// The certificates as parsed back from their concatenated DER.
spiffe::Certificates chainOf(std::initializer_list<const Issued *> certs);

} // namespace fixture
