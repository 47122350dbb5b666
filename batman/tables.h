// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mac.h"

struct nlattr;

namespace batman {

// Units are normalised: throughput and bandwidth in kbit/s, times in ms.

struct OriginatorEntry {
    Mac originator;
    Mac neighbor;
    std::uint32_t hardifIndex = 0;
    std::string hardif;
    std::uint32_t lastSeenMs = 0;
    std::optional<std::uint8_t> tq;               // BATMAN_IV
    std::optional<std::uint32_t> throughputKbps; // BATMAN_V
    bool best = false;
};

struct NeighborEntry {
    Mac neighbor;
    std::uint32_t hardifIndex = 0;
    std::string hardif;
    std::uint32_t lastSeenMs = 0;
    std::optional<std::uint32_t> throughputKbps; // BATMAN_V only
};

struct HardifEntry {
    std::uint32_t ifindex = 0;
    std::string name;
    Mac address;
    bool active = false;
    std::optional<std::uint32_t> hopPenalty;
    std::optional<std::uint32_t> elpIntervalMs;
    std::optional<std::uint64_t> throughputOverrideKbps;
};

struct GatewayEntry {
    Mac originator;
    Mac router;
    std::uint32_t hardifIndex = 0;
    std::string hardif;
    bool best = false;
    std::optional<std::uint8_t> tq;
    std::optional<std::uint32_t> throughputKbps;
    std::optional<std::uint64_t> bandwidthDownKbps;
    std::optional<std::uint64_t> bandwidthUpKbps;
};

// VLAN ids: bit 15 set means the client is on a tagged VLAN.
struct Vid {
    std::uint16_t raw = 0;
    bool tagged() const { return raw & 0x8000; }
    int id() const { return tagged() ? raw & 0x0fff : -1; }
};

struct LocalTranslation {
    Mac client;
    Vid vid;
    std::uint32_t flags = 0;
    std::uint32_t crc32 = 0;
    std::optional<std::uint32_t> lastSeenMs;
};

struct GlobalTranslation {
    Mac client;
    Mac originator;
    Vid vid;
    std::uint32_t flags = 0;
    std::uint8_t ttvn = 0;
    std::uint8_t lastTtvn = 0;
    std::uint32_t crc32 = 0;
    bool best = false;
};

struct ClaimEntry {
    Mac client;
    Mac backbone;
    Vid vid;
    std::uint16_t crc = 0;
    bool own = false;
};

struct BackboneEntry {
    Mac backbone;
    Vid vid;
    std::uint16_t crc = 0;
    bool own = false;
    std::uint32_t lastSeenMs = 0;
};

struct DatEntry {
    std::uint32_t ip4 = 0; // network byte order
    Mac hw;
    Vid vid;
    std::uint32_t lastSeenMs = 0;
};

// Multicast flags an originator announces (batadv_packet.h's
// BATADV_MCAST_WANT_*); the dump's own-node header has no originator.
struct McastEntry {
    Mac originator;
    std::uint32_t flags = 0;
};
std::vector<const char *> mcastFlagNames(std::uint32_t flags);

struct TpResult {
    Mac originator;
    std::uint32_t cookie = 0;
    std::uint8_t reason = 0; // enum batadv_tp_meter_reason
    std::uint32_t testTimeMs = 0;
    std::uint64_t bytes = 0;

    bool complete() const;
    const char *reasonName() const;
    // Acked payload over the test time; 0 when the test did not run.
    std::uint64_t throughputKbps() const;
};

using SettingValue = std::variant<bool, std::uint64_t, std::string>;

struct MeshInfo {
    std::string version;
    std::string algorithm;
    std::uint32_t ifindex = 0;
    std::string ifname;
    Mac address;
    std::optional<std::string> primaryHardif;
    std::optional<Mac> primaryAddress;
    std::optional<std::uint8_t> ttvn;
    std::optional<std::uint16_t> blaCrc;
    // Settings by the names of batman/settings.h, in meshd's units.
    std::map<std::string, SettingValue> settings;
};

// Parsers of one dump entry (attributes already validated against the
// policy of netlink.cpp). They return nothing when a mandatory attribute is
// missing; the caller counts that as a bad entry.
std::optional<OriginatorEntry> parseOriginator(nlattr **tb);
std::optional<NeighborEntry> parseNeighbor(nlattr **tb);
std::optional<HardifEntry> parseHardif(nlattr **tb);
std::optional<GatewayEntry> parseGateway(nlattr **tb);
std::optional<LocalTranslation> parseLocalTranslation(nlattr **tb);
std::optional<GlobalTranslation> parseGlobalTranslation(nlattr **tb);
std::optional<ClaimEntry> parseClaim(nlattr **tb);
std::optional<BackboneEntry> parseBackbone(nlattr **tb);
std::optional<DatEntry> parseDat(nlattr **tb);
std::optional<MeshInfo> parseMesh(nlattr **tb);
std::optional<TpResult> parseTpResult(nlattr **tb);
std::optional<McastEntry> parseMcast(nlattr **tb);

} // namespace batman
