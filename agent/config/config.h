// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "address.h"
#include "log.h"

namespace meshd {

struct HardifConfig {
    std::string name;
    // Validated per batman::SettingScope::Hardif; keys are setting names.
    nlohmann::json settings = nlohmann::json::object();

    bool operator==(const HardifConfig &) const = default;
};

// A node the peer channel dials (spiffe.peers).
struct SpiffePeer {
    std::string address; // IP:port
    std::string id;      // the SPIFFE ID it must present; empty: any the authorizer allows
    bool operator==(const SpiffePeer &) const = default;
};

struct Config {
    struct Mesh {
        std::string interface = "bat0";
        std::string algorithm = "BATMAN_IV";
        bool manage = true;
        std::vector<HardifConfig> hardifs;
        nlohmann::json settings = nlohmann::json::object();
        std::uint32_t pollIntervalMs = 1000;
        bool teardownOnExit = false;
        bool operator==(const Mesh &) const = default;
    } mesh;
    struct Control {
        std::string socket;
        mode_t mode = 0660;
        std::string group = "meshd";
        bool groupExplicit = false;
        // Members may change the mesh (set, tp, reload); "" leaves that to
        // root and meshd's own user.
        std::string adminGroup = "meshd-admin";
        std::uint32_t maxClients = 256;
        std::uint32_t writeTimeoutMs = 5000;
        bool operator==(const Control &) const = default;
    } control;
    struct Metrics {
        bool enabled = true;
        std::string listen = "127.0.0.1:9474";
        bool operator==(const Metrics &) const = default;
    } metrics;
    struct Probes {
        bool enabled = true;
        std::string btf;
        bool operator==(const Probes &) const = default;
    } probes;
    struct Spiffe {
        std::string endpoint; // empty: $SPIFFE_ENDPOINT_SOCKET
        std::string trustDomain; // empty: SPIFFE is off
        // The config form of the authorizer ({"ids": [...]} or
        // {"member_of": "td"}), already validated; null: member of trustDomain.
        nlohmann::json authorize;
        std::string listen; // peer channel address:port; empty: do not listen
        std::vector<SpiffePeer> peers;
        std::uint32_t retryMaxMs = 30000;   // Workload API backoff cap
        std::uint32_t peerRetryMs = 1000;   // first redial of a peer; doubles up to 60 s
        std::uint32_t handshakeTimeoutMs = 10000;
        std::string nodeName; // the hello's node name; empty: the host name
        // Who must serve a Unix Workload API socket (SO_PEERCRED): this uid;
        // unset: root or meshd's own uid; anyAgentUid: not checked.
        std::optional<std::uint32_t> agentUid;
        bool anyAgentUid = false;
        // tcp:// to an address that is not loopback needs this.
        bool allowRemoteEndpoint = false;
        bool operator==(const Spiffe &) const = default;
    } spiffe;
    struct Tunnel {
        bool enabled = false;
        std::string interface = "mesh-vpn"; // the mesh side: a hard interface of the mesh
        std::string listen = "0.0.0.0:7947"; // UDP IP:port of the data packets
        std::uint32_t mtu = 0;      // of the interface; 0: underlay MTU minus the overhead
        std::uint32_t workers = 0;  // data-plane threads; 0: one per core, at most 4
        std::string cipher = "auto"; // auto, chacha20-poly1305, aes-256-gcm
        std::optional<bool> attach;  // add it to the mesh; unset: only in manage mode
        std::string io = "auto";     // auto, packet-ring, tap
        std::uint32_t rekeySeconds = 120;
        std::string fastdStatusSocket; // a fastd-compatible status socket; empty: none
        bool operator==(const Tunnel &) const = default;
    } tunnel;
    struct Logging {
        LogLevel level = LogLevel::Info;
        LogTarget target = LogTarget::Stderr;
        bool operator==(const Logging &) const = default;
    } log;

    bool operator==(const Config &) const = default;
};

enum class ConfigErrorKind { Io, Syntax, DuplicateKey, UnknownKey, Type, Range, Value };
const char *configErrorKindName(ConfigErrorKind kind);

struct ConfigError {
    ConfigErrorKind kind;
    std::string path; // JSON path such as "mesh.hardifs[1]"; empty for the whole file
    std::string message;

    std::string describe() const;
};

struct ConfigResult {
    std::optional<Config> config;
    std::vector<ConfigError> errors;
    // A key such as "mesh.manage" as the file spells it: itself for JSON,
    // "meshd.bat0.manage" for UCI (set by parseUciConfig).
    std::function<std::string(const std::string &)> keyName;
    bool ok() const { return config.has_value(); }
    std::string name(const std::string &jsonPath) const
    {
        return keyName ? keyName(jsonPath) : jsonPath;
    }
};

// Parses and validates a config document. Every error is collected;
// `config` is set only when there are none.
ConfigResult parseConfig(std::string_view text, const std::string &defaultSocket);
ConfigResult loadConfigFile(const std::string &path, const std::string &defaultSocket);

// The config as JSON with every default filled in (for `status` and docs).
nlohmann::json configToJson(const Config &config);

// What a reload from `from` to `to` can apply at runtime, and what only
// takes effect after a restart. Each entry is a JSON path.
struct ConfigDiff {
    std::vector<std::string> applied;
    std::vector<std::string> restartRequired;
    bool empty() const { return applied.empty() && restartRequired.empty(); }
};
ConfigDiff diffConfig(const Config &from, const Config &to);

// Validates batman-adv settings (as in mesh.settings, or a hardif's
// settings when `hardif` is true) given anywhere else, such as the `set`
// command. Valid ones are copied into `out`; error paths are setting names.
std::vector<ConfigError> validateSettings(const nlohmann::json &settings, bool hardif,
                                          nlohmann::json &out);

// Checks shared by the config and other boundaries.
bool isValidInterfaceName(std::string_view name);

} // namespace meshd
