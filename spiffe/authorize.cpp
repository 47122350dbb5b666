// SPDX-License-Identifier: GPL-2.0-or-later
#include "authorize.h"

#include <nlohmann/json.hpp>

namespace spiffe
{

Authorizer authorizeAny()
{
    return Authorizer{};
}

Authorizer authorizeId(SpiffeId id)
{
    return authorizeOneOf({std::move(id)});
}

Authorizer authorizeOneOf(std::set<SpiffeId> ids)
{
    Authorizer a;
    a.kind_ = Authorizer::Kind::OneOf;
    a.ids_ = std::move(ids);
    return a;
}

Authorizer authorizeMemberOf(std::string trustDomain)
{
    Authorizer a;
    a.kind_ = Authorizer::Kind::MemberOf;
    a.trustDomain_ = std::move(trustDomain);
    return a;
}

std::optional<std::string> Authorizer::authorize(const SpiffeId &peer) const
{
    switch (kind_) {
    case Kind::Any:
        return std::nullopt;
    case Kind::OneOf:
        if (ids_.contains(peer))
            return std::nullopt;
        if (ids_.size() == 1)
            return peer.str() + " is not the authorised ID " + ids_.begin()->str();
        return peer.str() + " is not one of the " + std::to_string(ids_.size()) + " authorised IDs";
    case Kind::MemberOf:
        if (peer.trustDomain == trustDomain_)
            return std::nullopt;
        return peer.str() + " is not a member of trust domain " + trustDomain_;
    }
    return "unknown authorizer";
}

std::string Authorizer::describe() const
{
    switch (kind_) {
    case Kind::Any:
        return "any";
    case Kind::OneOf:
        if (ids_.size() == 1)
            return ids_.begin()->str();
        return "one of " + std::to_string(ids_.size()) + " IDs";
    case Kind::MemberOf:
        return "member of " + trustDomain_;
    }
    return "unknown";
}

namespace
{

using Result = std::variant<Authorizer, AuthorizeConfigError>;

Result fail(std::string path, std::string message)
{
    return AuthorizeConfigError{std::move(path), std::move(message)};
}

Result parseIds(const nlohmann::json &ids)
{
    if (!ids.is_array())
        return fail("ids", "must be an array of SPIFFE IDs");
    if (ids.empty())
        return fail("ids", "must list at least one SPIFFE ID");
    std::set<SpiffeId> set;
    for (std::size_t i = 0; i < ids.size(); i++) {
        std::string path = "ids[" + std::to_string(i) + "]";
        if (!ids[i].is_string())
            return fail(path, "must be a string (a SPIFFE ID)");
        auto parsed = parseId(ids[i].get_ref<const std::string &>());
        if (auto *err = std::get_if<IdError>(&parsed))
            return fail(path, "not a SPIFFE ID: " + err->message);
        auto &id = std::get<SpiffeId>(parsed);
        if (id.isRoot())
            return fail(path, id.str() +
                                  " has no path, and no SVID carries a root ID (use member_of to "
                                  "allow a whole trust domain)");
        set.insert(std::move(id));
    }
    return authorizeOneOf(std::move(set));
}

Result parseMemberOf(const nlohmann::json &td)
{
    if (!td.is_string())
        return fail("member_of", "must be a string (a trust domain)");
    auto parsed = parseTrustDomain(td.get_ref<const std::string &>());
    if (auto *err = std::get_if<IdError>(&parsed))
        return fail("member_of", "not a trust domain: " + err->message);
    return authorizeMemberOf(std::move(std::get<std::string>(parsed)));
}

} // namespace

std::variant<Authorizer, AuthorizeConfigError> parseAuthorizer(const nlohmann::json &config)
{
    if (!config.is_object())
        return fail("",
                    "must be an object: {\"ids\": [...]} or {\"member_of\": \"<trust domain>\"}");
    for (const auto &item : config.items())
        if (item.key() != "ids" && item.key() != "member_of")
            return fail(item.key(), "unknown key (expected ids or member_of)");
    bool hasIds = config.contains("ids");
    bool hasMemberOf = config.contains("member_of");
    if (hasIds && hasMemberOf)
        return fail("", "give either ids or member_of, not both");
    if (hasIds)
        return parseIds(config.at("ids"));
    if (hasMemberOf)
        return parseMemberOf(config.at("member_of"));
    return fail("", "needs ids or member_of");
}

} // namespace spiffe
