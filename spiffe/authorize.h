// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <optional>
#include <set>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "id.h"

namespace spiffe
{

// Decides whether a peer, whose SVID has already been validated, may talk to
// us (go-spiffe's tlsconfig authorizers). A value type: cheap to copy and
// swap on reload.
class Authorizer
{
public:
    enum class Kind { Any, OneOf, MemberOf };

    // nullopt when the peer is allowed, else why not.
    std::optional<std::string> authorize(const SpiffeId &peer) const;
    // "any", "spiffe://td/a", "one of 3 IDs", "member of td", for status and logs.
    std::string describe() const;

    Kind kind() const { return kind_; }
    const std::set<SpiffeId> &ids() const { return ids_; }
    const std::string &trustDomain() const { return trustDomain_; }

    bool operator==(const Authorizer &) const = default;

private:
    friend Authorizer authorizeAny();
    friend Authorizer authorizeOneOf(std::set<SpiffeId> ids);
    friend Authorizer authorizeMemberOf(std::string trustDomain);

    Kind kind_ = Kind::Any;
    std::set<SpiffeId> ids_;
    std::string trustDomain_;
};

// Any peer with a valid SVID.
Authorizer authorizeAny();
// Exactly this ID.
Authorizer authorizeId(SpiffeId id);
// One of these IDs (an empty set allows nobody).
Authorizer authorizeOneOf(std::set<SpiffeId> ids);
// Any ID in this trust domain (a name as returned by parseTrustDomain).
Authorizer authorizeMemberOf(std::string trustDomain);

// Why a config's authorize object was rejected; `path` is relative to that
// object ("ids[1]", "member_of", or empty for the object itself).
struct AuthorizeConfigError {
    std::string path;
    std::string message;
};

// From the config form: {"ids": ["spiffe://td/a", ...]} or
// {"member_of": "td"} ("spiffe://td" also accepted).
std::variant<Authorizer, AuthorizeConfigError> parseAuthorizer(const nlohmann::json &config);

} // namespace spiffe
