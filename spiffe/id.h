// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

namespace spiffe
{

// Limits from SPIFFE-ID.md, section 2.3.
inline constexpr std::size_t maxIdLength = 2048;
inline constexpr std::size_t maxTrustDomainLength = 255;

// A SPIFFE ID: spiffe://<trustDomain><path>. The path is empty (the trust
// domain's root) or starts with '/'.
struct SpiffeId {
    std::string trustDomain;
    std::string path;

    std::string str() const;
    bool isRoot() const { return path.empty(); }
    auto operator<=>(const SpiffeId &) const = default;
};

// Why a string is not a SPIFFE ID or trust domain; the message names the rule.
struct IdError {
    std::string message;
};

std::variant<SpiffeId, IdError> parseId(std::string_view text);

// A trust domain name, given bare ("example.org") or as the ID of the trust
// domain ("spiffe://example.org", as the Workload API names federated bundles).
std::variant<std::string, IdError> parseTrustDomain(std::string_view text);

} // namespace spiffe
