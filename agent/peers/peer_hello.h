// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace meshd {

// The hello each side sends once TLS is up:
//   {"protocol": 1, "node": "...", "version": "...", "mesh_mac": "aa:..." | null,
//    "capabilities": ["hello", "keepalive", ...]}
inline constexpr unsigned helloProtocol = 1;
inline constexpr std::size_t maxCapabilities = 32;

// The peer's hello, checked field by field; "" or what is wrong.
std::string checkHello(const nlohmann::json &hello);

// The fields of a hello that checkHello accepted, and nothing else: members
// a newer peer adds are ignored, and none of what a peer sends is kept
// beyond what meshd validated and uses.
nlohmann::json helloFields(const nlohmann::json &hello);

// This node's hello.
nlohmann::json makeHello(const std::string &node, const std::string &meshMac,
                         const std::vector<std::string> &capabilities);

// The MAC of a local interface as sysfs writes it, "" when there is none.
std::string meshMac(const std::string &interface);

// Printable ASCII, 1 to max bytes.
bool printable(const std::string &s, std::size_t max);

} // namespace meshd
