// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_hello.h"

#include <fstream>

#include "meshd_build.h"

namespace meshd {

using nlohmann::json;

std::string meshMac(const std::string &interface)
{
    std::ifstream in("/sys/class/net/" + interface + "/address");
    std::string mac;
    if (!(in >> mac) || mac.size() != 17)
        return {};
    return mac; // the kernel writes lower-case aa:bb:cc:dd:ee:ff
}

bool printable(const std::string &s, std::size_t max)
{
    if (s.empty() || s.size() > max)
        return false;
    for (unsigned char c : s)
        if (c < 0x20 || c > 0x7e)
            return false;
    return true;
}

namespace {

// Lower-case aa:bb:cc:dd:ee:ff, as MACs are written everywhere in meshd.
bool isMac(const std::string &s)
{
    if (s.size() != 17)
        return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        char ch = s[i];
        bool ok = i % 3 == 2 ? ch == ':' : (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
        if (!ok)
            return false;
    }
    return true;
}

} // namespace

std::string checkHello(const json &h)
{
    if (!h.is_object())
        return "the hello is not a JSON object";
    if (!h.contains("protocol") || !h["protocol"].is_number_unsigned() || h["protocol"] == 0)
        return "the hello has no protocol version";
    for (const char *key : {"node", "version"})
        if (!h.contains(key) || !h[key].is_string() || !printable(h[key], 64))
            return std::string("the hello's \"") + key + "\" is not a printable string";
    if (h.contains("mesh_mac") && !h["mesh_mac"].is_null() &&
        (!h["mesh_mac"].is_string() || !isMac(h["mesh_mac"].get<std::string>())))
        return "the hello's \"mesh_mac\" is not a MAC address (aa:bb:cc:dd:ee:ff)";
    if (!h.contains("capabilities") || !h["capabilities"].is_array() ||
        h["capabilities"].size() > maxCapabilities)
        return "the hello's \"capabilities\" is not a list";
    for (const auto &c : h["capabilities"])
        if (!c.is_string() || !printable(c, 32))
            return "a capability in the hello is not a short string";
    return {};
}

json helloFields(const json &h)
{
    return {{"protocol", h["protocol"]},
            {"node", h["node"]},
            {"version", h["version"]},
            {"mesh_mac", h.contains("mesh_mac") ? h["mesh_mac"] : json()},
            {"capabilities", h["capabilities"]}};
}

json makeHello(const std::string &node, const std::string &mac,
               const std::vector<std::string> &capabilities)
{
    return {{"protocol", helloProtocol},
            {"node", node},
            {"version", MESHD_VERSION},
            {"mesh_mac", mac.empty() ? json() : json(mac)},
            {"capabilities", capabilities}};
}

} // namespace meshd
