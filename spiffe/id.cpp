// SPDX-License-Identifier: GPL-2.0-or-later
#include "id.h"

#include <cstdio>

namespace spiffe
{

namespace
{

constexpr std::string_view scheme = "spiffe://";

bool isLower(char c)
{
    return c >= 'a' && c <= 'z';
}
bool isUpper(char c)
{
    return c >= 'A' && c <= 'Z';
}
bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}
bool isPunct(char c)
{
    return c == '.' || c == '-' || c == '_';
}

bool isTrustDomainChar(char c)
{
    return isLower(c) || isDigit(c) || isPunct(c);
}
bool isPathChar(char c)
{
    return isLower(c) || isUpper(c) || isDigit(c) || isPunct(c);
}

// A character quoted for a message; bytes that do not print are given in hex.
std::string quote(char c)
{
    auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f)
        return std::string("'") + c + "'";
    char buf[16];
    snprintf(buf, sizeof(buf), "byte 0x%02x", u);
    return buf;
}

IdError fail(std::string message)
{
    return IdError{std::move(message)};
}

// The rules of the URI syntax a bad character breaks, before the charset itself.
std::string uriRule(char c)
{
    switch (c) {
    case '%':
        return "percent-encoding is not allowed";
    case '?':
        return "a query is not allowed";
    case '#':
        return "a fragment is not allowed";
    default:
        return {};
    }
}

std::variant<std::string, IdError> checkTrustDomain(std::string_view td)
{
    if (td.empty())
        return fail("the trust domain is empty");
    if (td.size() > maxTrustDomainLength)
        return fail("the trust domain is " + std::to_string(td.size()) +
                    " bytes long, more than the 255 allowed");
    // The authority is userinfo@host:port; only the host may be given.
    if (auto at = td.find('@'); at != std::string_view::npos)
        return fail("userinfo is not allowed (trust domain offset " + std::to_string(at) + ")");
    for (std::size_t i = 0; i < td.size(); i++) {
        char c = td[i];
        if (isTrustDomainChar(c))
            continue;
        std::string at = " (trust domain offset " + std::to_string(i) + ")";
        if (auto rule = uriRule(c); !rule.empty())
            return fail(rule + at);
        if (c == ':')
            return fail("a port is not allowed" + at);
        if (isUpper(c))
            return fail("the trust domain must be lower-case: " + quote(c) + at);
        return fail("the trust domain may only contain a-z 0-9 . - _, not " + quote(c) + at);
    }
    return std::string(td);
}

std::variant<std::string, IdError> checkPath(std::string_view path)
{
    // path is empty or starts with '/'; each '/' opens a segment.
    std::size_t pos = 0;
    while (pos < path.size()) {
        std::size_t start = pos + 1;
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos)
            end = path.size();
        std::string_view segment = path.substr(start, end - start);
        for (std::size_t i = 0; i < segment.size(); i++) {
            char c = segment[i];
            if (isPathChar(c))
                continue;
            std::string at = " (path offset " + std::to_string(start + i) + ")";
            if (auto rule = uriRule(c); !rule.empty())
                return fail(rule + at);
            return fail("path segments may only contain a-z A-Z 0-9 . - _, not " + quote(c) + at);
        }
        if (segment.empty()) {
            if (end == path.size())
                return fail("the path must not end with '/'");
            return fail("the path must not contain an empty segment ('//')");
        }
        if (segment == ".")
            return fail("the path must not contain a '.' segment");
        if (segment == "..")
            return fail("the path must not contain a '..' segment");
        pos = end;
    }
    return std::string(path);
}

bool startsWithIgnoringCase(std::string_view text, std::string_view prefix)
{
    if (text.size() < prefix.size())
        return false;
    for (std::size_t i = 0; i < prefix.size(); i++) {
        char c = text[i];
        if (isUpper(c))
            c = static_cast<char>(c - 'A' + 'a');
        if (c != prefix[i])
            return false;
    }
    return true;
}

} // namespace

std::string SpiffeId::str() const
{
    std::string out;
    out.reserve(scheme.size() + trustDomain.size() + path.size());
    out.append(scheme).append(trustDomain).append(path);
    return out;
}

std::variant<SpiffeId, IdError> parseId(std::string_view text)
{
    if (text.empty())
        return fail("a SPIFFE ID cannot be empty");
    if (text.size() > maxIdLength)
        return fail("the ID is " + std::to_string(text.size()) +
                    " bytes long, more than the 2048 allowed");
    if (!text.starts_with(scheme)) {
        if (startsWithIgnoringCase(text, scheme))
            return fail("the scheme must be lower-case 'spiffe://'");
        return fail("a SPIFFE ID must start with 'spiffe://'");
    }
    std::string_view rest = text.substr(scheme.size());
    std::size_t slash = rest.find('/');
    std::string_view td = rest.substr(0, slash);
    std::string_view path =
        slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);

    SpiffeId id;
    auto checkedTd = checkTrustDomain(td);
    if (auto *err = std::get_if<IdError>(&checkedTd))
        return *err;
    id.trustDomain = std::move(std::get<std::string>(checkedTd));
    auto checkedPath = checkPath(path);
    if (auto *err = std::get_if<IdError>(&checkedPath))
        return *err;
    id.path = std::move(std::get<std::string>(checkedPath));
    return id;
}

std::variant<std::string, IdError> parseTrustDomain(std::string_view text)
{
    if (text.find("://") == std::string_view::npos)
        return checkTrustDomain(text);
    auto parsed = parseId(text);
    if (auto *err = std::get_if<IdError>(&parsed))
        return *err;
    auto &id = std::get<SpiffeId>(parsed);
    if (!id.isRoot())
        return fail("a trust domain has no path ('" + id.path.substr(0, 64) +
                    (id.path.size() > 64 ? "...'" : "'") + " given)");
    return std::move(id.trustDomain);
}

} // namespace spiffe
