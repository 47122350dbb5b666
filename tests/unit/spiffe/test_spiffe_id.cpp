// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "authorize.h"
#include "id.h"

using namespace spiffe;

namespace
{

SpiffeId id(std::string_view text)
{
    auto parsed = parseId(text);
    REQUIRE(std::holds_alternative<SpiffeId>(parsed));
    return std::get<SpiffeId>(parsed);
}

std::string idError(std::string_view text)
{
    auto parsed = parseId(text);
    if (auto *err = std::get_if<IdError>(&parsed))
        return err->message;
    return "accepted as " + std::get<SpiffeId>(parsed).str();
}

std::string tdError(std::string_view text)
{
    auto parsed = parseTrustDomain(text);
    if (auto *err = std::get_if<IdError>(&parsed))
        return err->message;
    return "accepted as " + std::get<std::string>(parsed);
}

} // namespace

TEST_CASE("valid SPIFFE IDs are split into trust domain and path", "[spiffe]")
{
    struct Case {
        std::string text, trustDomain, path;
    };
    std::string longTd(255, 'a');
    std::string longPath = "/" + std::string(2048 - 9 - 4 - 1, 'x'); // exactly 2048 bytes
    auto [text, td, path] = GENERATE_COPY(values<Case>({
        {"spiffe://example.org", "example.org", ""},
        {"spiffe://example.org/node/n1", "example.org", "/node/n1"},
        {"spiffe://mesh.example.org/ns/staging/sa/default", "mesh.example.org",
         "/ns/staging/sa/default"},
        {"spiffe://a-b_c.d9/A-Z_a.z-09", "a-b_c.d9", "/A-Z_a.z-09"},
        {"spiffe://td/9eebccd2-12bf-40a6-b262-65fe0487d453", "td",
         "/9eebccd2-12bf-40a6-b262-65fe0487d453"},
        {"spiffe://td/.../..a/a..", "td", "/.../..a/a.."},
        {"spiffe://" + longTd + "/x", longTd, "/x"},
        {"spiffe://abcd" + longPath, "abcd", longPath},
    }));
    CAPTURE(text);
    auto parsed = id(text);
    CHECK(parsed.trustDomain == td);
    CHECK(parsed.path == path);
    CHECK(parsed.str() == text);
    CHECK(parsed.isRoot() == path.empty());
}

TEST_CASE("invalid SPIFFE IDs are rejected naming the rule", "[spiffe]")
{
    struct Case {
        std::string text, rule;
    };
    std::string td256(256, 'a');
    std::string id2049 = "spiffe://abcd/" + std::string(2049 - 14, 'x');
    REQUIRE(id2049.size() == 2049);
    auto [text, rule] = GENERATE_COPY(values<Case>({
        {"", "cannot be empty"},
        {"example.org/node", "must start with 'spiffe://'"},
        {"https://example.org/node", "must start with 'spiffe://'"},
        {"spiffe:/example.org/node", "must start with 'spiffe://'"},
        {"spiffe:example.org", "must start with 'spiffe://'"},
        {"SPIFFE://example.org/node", "scheme must be lower-case"},
        {"Spiffe://example.org/node", "scheme must be lower-case"},
        {"spiffe://", "trust domain is empty"},
        {"spiffe:///node", "trust domain is empty"},
        {"spiffe://Example.org/node", "trust domain must be lower-case: 'E'"},
        {"spiffe://EXAMPLE.ORG", "trust domain must be lower-case"},
        {"spiffe://exa mple.org/node", "a-z 0-9 . - _, not byte 0x20"},
        {"spiffe://exa+mple.org/node", "a-z 0-9 . - _, not '+'"},
        {"spiffe://ex%41mple.org/node", "percent-encoding"},
        {"spiffe://example.org:443/node", "port is not allowed"},
        {"spiffe://example.org:/node", "port is not allowed"},
        {"spiffe://user@example.org/node", "userinfo is not allowed"},
        {"spiffe://user:pw@example.org/node", "userinfo is not allowed"},
        {"spiffe://example.org?q", "query is not allowed"},
        {"spiffe://example.org#f", "fragment is not allowed"},
        {"spiffe://example.org/node?q", "query is not allowed"},
        {"spiffe://example.org/node?", "query is not allowed"},
        {"spiffe://example.org/node#f", "fragment is not allowed"},
        {"spiffe://example.org/a%2Fb", "percent-encoding"},
        {"spiffe://example.org/%2E", "percent-encoding"},
        {"spiffe://example.org/", "must not end with '/'"},
        {"spiffe://example.org/node/", "must not end with '/'"},
        {"spiffe://example.org//node", "empty segment"},
        {"spiffe://example.org/a//b", "empty segment"},
        {"spiffe://example.org/.", "'.' segment"},
        {"spiffe://example.org/a/./b", "'.' segment"},
        {"spiffe://example.org/..", "'..' segment"},
        {"spiffe://example.org/a/../b", "'..' segment"},
        {"spiffe://example.org/a b", "not byte 0x20"},
        {"spiffe://example.org/a+b", "not '+'"},
        {"spiffe://example.org/caf\xc3\xa9", "not byte 0xc3"},
        {"spiffe://example.org/a\nb", "not byte 0x0a"},
        {std::string("spiffe://example.org/a\0b", 24), "not byte 0x00"},
        {"spiffe://" + td256 + "/x", "256 bytes long, more than the 255"},
        {"spiffe://" + td256, "more than the 255"},
        {id2049, "2049 bytes long, more than the 2048"},
    }));
    CAPTURE(text);
    CHECK_THAT(idError(text), Catch::Contains(rule));
}

TEST_CASE("trust domains are accepted bare or as spiffe://name", "[spiffe]")
{
    auto td = parseTrustDomain("example.org");
    REQUIRE(std::holds_alternative<std::string>(td));
    CHECK(std::get<std::string>(td) == "example.org");
    td = parseTrustDomain("spiffe://example.org");
    REQUIRE(std::holds_alternative<std::string>(td));
    CHECK(std::get<std::string>(td) == "example.org");
    td = parseTrustDomain(std::string(255, 'z'));
    CHECK(std::holds_alternative<std::string>(td));

    CHECK_THAT(tdError(""), Catch::Contains("trust domain is empty"));
    CHECK_THAT(tdError("spiffe://"), Catch::Contains("trust domain is empty"));
    CHECK_THAT(tdError("Example.org"), Catch::Contains("lower-case"));
    CHECK_THAT(tdError("example.org:8081"), Catch::Contains("port"));
    CHECK_THAT(tdError("example.org/node"), Catch::Contains("not '/'"));
    CHECK_THAT(tdError("spiffe://example.org/node"), Catch::Contains("a trust domain has no path"));
    CHECK_THAT(tdError("spiffe://example.org/"), Catch::Contains("must not end with '/'"));
    CHECK_THAT(tdError("SPIFFE://example.org"), Catch::Contains("scheme must be lower-case"));
    CHECK_THAT(tdError("https://example.org"), Catch::Contains("must start with 'spiffe://'"));
    CHECK_THAT(tdError(std::string(256, 'z')), Catch::Contains("more than the 255"));
}

TEST_CASE("SPIFFE IDs compare by trust domain and path", "[spiffe]")
{
    CHECK(id("spiffe://td/a") == id("spiffe://td/a"));
    CHECK(id("spiffe://td/a") != id("spiffe://td/A"));
    CHECK(id("spiffe://td/a") != id("spiffe://te/a"));
    CHECK(id("spiffe://td") < id("spiffe://td/a"));
}

TEST_CASE("authorizers: any, exact ID, one of, member of", "[spiffe]")
{
    auto a = id("spiffe://mesh.example.org/node/a");
    auto b = id("spiffe://mesh.example.org/node/b");
    auto foreign = id("spiffe://other.example.org/node/a");

    CHECK_FALSE(authorizeAny().authorize(a));
    CHECK_FALSE(authorizeAny().authorize(foreign));
    CHECK(authorizeAny().describe() == "any");

    auto exact = authorizeId(a);
    CHECK_FALSE(exact.authorize(a));
    REQUIRE(exact.authorize(b));
    CHECK(*exact.authorize(b) == "spiffe://mesh.example.org/node/b is not the authorised ID "
                                 "spiffe://mesh.example.org/node/a");
    CHECK(exact.authorize(foreign));
    CHECK(exact.describe() == "spiffe://mesh.example.org/node/a");

    auto oneOf = authorizeOneOf({a, b});
    CHECK_FALSE(oneOf.authorize(a));
    CHECK_FALSE(oneOf.authorize(b));
    REQUIRE(oneOf.authorize(foreign));
    CHECK_THAT(*oneOf.authorize(foreign), Catch::Contains("not one of the 2 authorised IDs"));
    CHECK(oneOf.describe() == "one of 2 IDs");
    CHECK(authorizeOneOf({}).authorize(a));

    auto member = authorizeMemberOf("mesh.example.org");
    CHECK_FALSE(member.authorize(a));
    CHECK_FALSE(member.authorize(b));
    REQUIRE(member.authorize(foreign));
    CHECK(*member.authorize(foreign) ==
          "spiffe://other.example.org/node/a is not a member of trust domain mesh.example.org");
    // A trust domain that merely ends with the name is another trust domain.
    CHECK(member.authorize(id("spiffe://evil-mesh.example.org/node/a")));
    CHECK(member.describe() == "member of mesh.example.org");
}

TEST_CASE("authorizers from the config form", "[spiffe]")
{
    using nlohmann::json;
    auto parse = [](const char *text) { return parseAuthorizer(json::parse(text)); };

    auto ids = parse(R"({"ids": ["spiffe://td/a", "spiffe://td/b", "spiffe://td/a"]})");
    REQUIRE(std::holds_alternative<Authorizer>(ids));
    auto &oneOf = std::get<Authorizer>(ids);
    CHECK(oneOf.kind() == Authorizer::Kind::OneOf);
    CHECK(oneOf.ids().size() == 2);
    CHECK_FALSE(oneOf.authorize(id("spiffe://td/b")));
    CHECK(oneOf.authorize(id("spiffe://td/c")));

    auto single = parse(R"({"ids": ["spiffe://td/a"]})");
    REQUIRE(std::holds_alternative<Authorizer>(single));
    CHECK(std::get<Authorizer>(single) == authorizeId(id("spiffe://td/a")));

    for (const char *form : {R"({"member_of": "td"})", R"({"member_of": "spiffe://td"})"}) {
        CAPTURE(form);
        auto member = parse(form);
        REQUIRE(std::holds_alternative<Authorizer>(member));
        CHECK(std::get<Authorizer>(member) == authorizeMemberOf("td"));
    }

    struct Case {
        const char *text, *path, *message;
    };
    auto [text, path, message] = GENERATE(values<Case>({
        {R"([])", "", "must be an object"},
        {R"("td")", "", "must be an object"},
        {R"({})", "", "needs ids or member_of"},
        {R"({"ids": ["spiffe://td/a"], "member_of": "td"})", "", "not both"},
        {R"({"ids": ["spiffe://td/a"], "any": true})", "any", "unknown key"},
        {R"({"ids": "spiffe://td/a"})", "ids", "must be an array"},
        {R"({"ids": []})", "ids", "at least one"},
        {R"({"ids": ["spiffe://td/a", 7]})", "ids[1]", "must be a string"},
        {R"({"ids": ["spiffe://td/a", "spiffe://TD/b"]})", "ids[1]", "lower-case"},
        {R"({"ids": ["spiffe://td/a/"]})", "ids[0]", "must not end with '/'"},
        {R"({"ids": ["spiffe://td"]})", "ids[0]", "use member_of"},
        {R"({"member_of": 1})", "member_of", "must be a string"},
        {R"({"member_of": ""})", "member_of", "trust domain is empty"},
        {R"({"member_of": "spiffe://td/node"})", "member_of", "has no path"},
        {R"({"member_of": "td:443"})", "member_of", "port"},
    }));
    CAPTURE(text);
    auto parsed = parse(text);
    REQUIRE(std::holds_alternative<AuthorizeConfigError>(parsed));
    auto &err = std::get<AuthorizeConfigError>(parsed);
    CHECK(err.path == path);
    CHECK_THAT(err.message, Catch::Contains(message));
}
