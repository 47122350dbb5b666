// SPDX-License-Identifier: GPL-2.0-or-later
#include "tunnel_messages.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "json_depth.h"

namespace meshd::tunnel {

using nlohmann::json;

namespace {

constexpr std::uint64_t maxEpoch = std::uint64_t(1) << 62;

std::vector<std::uint8_t> bytes(const json &j)
{
    std::string text = j.dump();
    return {text.begin(), text.end()};
}

std::string hex(std::span<const std::uint8_t> data)
{
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : data) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

bool unhex(const std::string &text, std::span<std::uint8_t> out)
{
    if (text.size() != out.size() * 2)
        return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = std::uint8_t(hi << 4 | lo);
    }
    return true;
}

bool parseMac(const std::string &text, Mac &out)
{
    if (text.size() != 17)
        return false;
    for (std::size_t i = 0; i < 6; ++i) {
        if (i > 0 && text[3 * i - 1] != ':')
            return false;
        if (!unhex(text.substr(3 * i, 2), std::span(out).subspan(i, 1)))
            return false;
    }
    return true;
}

// The message's JSON object, with every key checked against `keys`.
std::variant<json, std::string> object(std::span<const std::uint8_t> payload,
                                       const std::set<std::string> &keys)
{
    if (payload.size() > maxMessage)
        return std::string("the message is longer than ") + std::to_string(maxMessage) + " bytes";
    std::string_view text(reinterpret_cast<const char *>(payload.data()), payload.size());
    if (!jsonDepthWithin(text))
        return std::string("the message nests deeper than ") + std::to_string(maxJsonDepth) +
               " levels";
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return std::string("the message is not a JSON object");
    for (auto it = j.begin(); it != j.end(); ++it)
        if (!keys.count(it.key()))
            return "unknown field \"" + it.key().substr(0, 32) + "\"";
    for (const auto &k : keys)
        if (!j.contains(k))
            return "the message has no \"" + k + "\"";
    return j;
}

std::string readUint(const json &j, const char *key, std::uint64_t min, std::uint64_t max,
                     std::uint64_t &out)
{
    const json &v = j[key];
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() < min || v.get<std::uint64_t>() > max)
        return std::string("\"") + key + "\" is not an integer in " + std::to_string(min) + ".." +
               std::to_string(max);
    out = v.get<std::uint64_t>();
    return {};
}

std::string readHex(const json &j, const char *key, std::span<std::uint8_t> out)
{
    const json &v = j[key];
    if (!v.is_string() || !unhex(v.get<std::string>(), out))
        return std::string("\"") + key + "\" is not " + std::to_string(out.size()) +
               " bytes of lower-case hex";
    return {};
}

std::string readMac(const json &j, Mac &out)
{
    const json &v = j["mac"];
    if (!v.is_string() || !parseMac(v.get<std::string>(), out))
        return "\"mac\" is not a MAC address (aa:bb:cc:dd:ee:ff)";
    if (out[0] & 1)
        return "\"mac\" is a multicast address";
    return {};
}

// The fields Offer and Accept share.
template <typename M> std::string readCommon(const json &j, M &m)
{
    std::uint64_t v = 0;
    std::string e;
    if (!(e = readUint(j, "epoch", 1, maxEpoch, m.epoch)).empty())
        return e;
    if (!(e = readUint(j, "index", 1, UINT32_MAX, v)).empty())
        return e;
    m.index = std::uint32_t(v);
    if (!(e = readHex(j, "kx", m.kx)).empty())
        return e;
    if (!(e = readUint(j, "port", 1, 65535, v)).empty())
        return e;
    m.port = std::uint16_t(v);
    return readMac(j, m.mac);
}

std::optional<forward::Cipher> cipherNamed(const std::string &name)
{
    if (name == forward::cipherName(forward::Cipher::ChaCha20Poly1305))
        return forward::Cipher::ChaCha20Poly1305;
    if (name == forward::cipherName(forward::Cipher::Aes256Gcm))
        return forward::Cipher::Aes256Gcm;
    return std::nullopt;
}

} // namespace

std::string macString(const Mac &mac)
{
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return buf;
}

std::vector<std::uint8_t> encode(const OfferMessage &m)
{
    json ciphers = json::array();
    if (m.ciphers.chacha20Poly1305)
        ciphers.push_back(forward::cipherName(forward::Cipher::ChaCha20Poly1305));
    if (m.ciphers.aes256Gcm)
        ciphers.push_back(forward::cipherName(forward::Cipher::Aes256Gcm));
    return bytes({{"epoch", m.epoch},
                  {"index", m.index},
                  {"kx", hex(m.kx)},
                  {"port", m.port},
                  {"mac", macString(m.mac)},
                  {"ciphers", ciphers},
                  {"has_aes", m.ciphers.hasAes},
                  {"cipher", forward::cipherChoiceName(m.ciphers.choice)}});
}

std::vector<std::uint8_t> encode(const AcceptMessage &m)
{
    return bytes({{"epoch", m.epoch},
                  {"index", m.index},
                  {"kx", hex(m.kx)},
                  {"port", m.port},
                  {"mac", macString(m.mac)},
                  {"cipher", forward::cipherName(m.cipher)}});
}

std::vector<std::uint8_t> encode(const ConfirmMessage &m) { return bytes({{"epoch", m.epoch}}); }

std::vector<std::uint8_t> encode(const CloseMessage &m) { return bytes({{"reason", m.reason}}); }

std::variant<OfferMessage, std::string> parseOffer(std::span<const std::uint8_t> payload)
{
    auto o = object(payload, {"epoch", "index", "kx", "port", "mac", "ciphers", "has_aes", "cipher"});
    if (auto *e = std::get_if<std::string>(&o))
        return *e;
    const json &j = std::get<json>(o);
    OfferMessage m;
    if (std::string e = readCommon(j, m); !e.empty())
        return e;
    const json &list = j["ciphers"];
    if (!list.is_array() || list.empty() || list.size() > 8)
        return std::string("\"ciphers\" is not a list of 1 to 8 names");
    m.ciphers.chacha20Poly1305 = m.ciphers.aes256Gcm = false;
    for (const auto &c : list) {
        if (!c.is_string())
            return std::string("\"ciphers\" holds something other than names");
        auto cipher = cipherNamed(c.get<std::string>());
        if (cipher == forward::Cipher::ChaCha20Poly1305)
            m.ciphers.chacha20Poly1305 = true;
        else if (cipher == forward::Cipher::Aes256Gcm)
            m.ciphers.aes256Gcm = true;
        // unknown names: ciphers of newer peers, ignored
    }
    if (!j["has_aes"].is_boolean())
        return std::string("\"has_aes\" is not a boolean");
    m.ciphers.hasAes = j["has_aes"].get<bool>();
    const json &choice = j["cipher"];
    std::optional<forward::CipherChoice> parsed;
    if (choice.is_string())
        parsed = forward::parseCipherChoice(choice.get<std::string>());
    if (!parsed)
        return std::string("\"cipher\" is not auto, chacha20-poly1305 or aes-256-gcm");
    m.ciphers.choice = *parsed;
    return m;
}

std::variant<AcceptMessage, std::string> parseAccept(std::span<const std::uint8_t> payload)
{
    auto o = object(payload, {"epoch", "index", "kx", "port", "mac", "cipher"});
    if (auto *e = std::get_if<std::string>(&o))
        return *e;
    const json &j = std::get<json>(o);
    AcceptMessage m;
    if (std::string e = readCommon(j, m); !e.empty())
        return e;
    const json &c = j["cipher"];
    auto cipher = c.is_string() ? cipherNamed(c.get<std::string>()) : std::nullopt;
    if (!cipher)
        return std::string("\"cipher\" is not chacha20-poly1305 or aes-256-gcm");
    m.cipher = *cipher;
    return m;
}

std::variant<ConfirmMessage, std::string> parseConfirm(std::span<const std::uint8_t> payload)
{
    auto o = object(payload, {"epoch"});
    if (auto *e = std::get_if<std::string>(&o))
        return *e;
    ConfirmMessage m;
    if (std::string e = readUint(std::get<json>(o), "epoch", 1, maxEpoch, m.epoch); !e.empty())
        return e;
    return m;
}

std::variant<CloseMessage, std::string> parseClose(std::span<const std::uint8_t> payload)
{
    auto o = object(payload, {"reason"});
    if (auto *e = std::get_if<std::string>(&o))
        return *e;
    const json &r = std::get<json>(o)["reason"];
    if (!r.is_string())
        return std::string("\"reason\" is not a string");
    CloseMessage m;
    m.reason = r.get<std::string>().substr(0, 200);
    for (char &ch : m.reason) // it reaches logs and terminals
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e)
            ch = '?';
    return m;
}

} // namespace meshd::tunnel
