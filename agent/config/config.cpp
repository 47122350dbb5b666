// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <sys/un.h>

#include "authorize.h"
#include "id.h"
#include "json_depth.h"
#include "uci.h"
#include "workload.h"
#include "settings.h"

namespace meshd {

using nlohmann::json;

const char *configErrorKindName(ConfigErrorKind kind)
{
    switch (kind) {
    case ConfigErrorKind::Io:
        return "io";
    case ConfigErrorKind::Syntax:
        return "syntax";
    case ConfigErrorKind::DuplicateKey:
        return "duplicate_key";
    case ConfigErrorKind::UnknownKey:
        return "unknown_key";
    case ConfigErrorKind::Type:
        return "type";
    case ConfigErrorKind::Range:
        return "range";
    case ConfigErrorKind::Value:
        return "value";
    }
    return "value";
}

std::string ConfigError::describe() const
{
    if (path.empty())
        return message;
    return path + ": " + message;
}

bool isValidInterfaceName(std::string_view name)
{
    // The kernel's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or space.
    if (name.empty() || name.size() > 15 || name == "." || name == "..")
        return false;
    for (unsigned char c : name)
        if (c == '/' || c == ':' || c <= ' ' || c == 0x7f)
            return false;
    return true;
}

namespace {

const char *typeName(const json &v)
{
    switch (v.type()) {
    case json::value_t::null:
        return "null";
    case json::value_t::boolean:
        return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
        return "an integer";
    case json::value_t::number_float:
        return "a number with a fraction";
    case json::value_t::string:
        return "a string";
    case json::value_t::array:
        return "an array";
    case json::value_t::object:
        return "an object";
    default:
        return "an unsupported value";
    }
}

std::string joinPath(const std::string &base, const std::string &key)
{
    return base.empty() ? key : base + "." + key;
}

// Validates one JSON object: every access records what is known, so
// leftovers are unknown keys; every type or range problem is recorded.
class Section {
public:
    Section(const json &obj, std::string path, std::vector<ConfigError> &errors)
        : obj_(obj), path_(std::move(path)), errors_(errors)
    {
    }

    // Call once all keys were read.
    void rejectUnknown()
    {
        for (auto it = obj_.begin(); it != obj_.end(); ++it) {
            if (known_.count(it.key()))
                continue;
            std::string list;
            for (const auto &k : known_)
                list += (list.empty() ? "" : ", ") + k;
            error(ConfigErrorKind::UnknownKey, joinPath(path_, it.key()),
                  "unknown key (known keys here: " + list + ")");
        }
    }

    const json *find(const std::string &key)
    {
        known_.insert(key);
        auto it = obj_.find(key);
        return it == obj_.end() ? nullptr : &*it;
    }

    std::string path(const std::string &key) const { return joinPath(path_, key); }

    void error(ConfigErrorKind kind, const std::string &path, const std::string &message)
    {
        errors_.push_back({kind, path, message});
    }

    void readBool(const std::string &key, bool &out)
    {
        const json *v = find(key);
        if (!v)
            return;
        if (!v->is_boolean())
            return typeError(key, "a boolean (true or false)", *v);
        out = v->get<bool>();
    }

    void readString(const std::string &key, std::string &out,
                    const std::function<std::string(const std::string &)> &check = {})
    {
        const json *v = find(key);
        if (!v)
            return;
        if (!v->is_string())
            return typeError(key, "a string", *v);
        std::string s = v->get<std::string>();
        if (check) {
            std::string problem = check(s);
            if (!problem.empty())
                return error(ConfigErrorKind::Value, path(key), problem);
        }
        out = s;
    }

    template <typename T>
    void readUint(const std::string &key, T &out, std::uint64_t min, std::uint64_t max)
    {
        const json *v = find(key);
        if (!v)
            return;
        std::uint64_t value;
        if (!checkUint(*v, path(key), min, max, &value))
            return;
        out = static_cast<T>(value);
    }

    void readChoice(const std::string &key, std::string &out,
                    const std::vector<std::string_view> &choices)
    {
        const json *v = find(key);
        if (!v)
            return;
        if (!v->is_string())
            return typeError(key, "a string", *v);
        std::string s = v->get<std::string>();
        for (auto c : choices)
            if (s == c) {
                out = s;
                return;
            }
        error(ConfigErrorKind::Value, path(key),
              "\"" + s + "\" is not one of: " + joinChoices(choices));
    }

    bool checkUint(const json &v, const std::string &p, std::uint64_t min, std::uint64_t max,
                   std::uint64_t *value)
    {
        if (v.is_number_unsigned()) {
            *value = v.get<std::uint64_t>();
        } else if (v.is_number_integer()) {
            error(ConfigErrorKind::Range, p,
                  std::to_string(v.get<std::int64_t>()) + " is out of range " +
                      std::to_string(min) + ".." + std::to_string(max));
            return false;
        } else {
            error(ConfigErrorKind::Type, p,
                  std::string("expected an integer, got ") + typeName(v));
            return false;
        }
        if (*value < min || *value > max) {
            error(ConfigErrorKind::Range, p,
                  std::to_string(*value) + " is out of range " + std::to_string(min) + ".." +
                      std::to_string(max));
            return false;
        }
        return true;
    }

    void typeError(const std::string &key, const char *expected, const json &got)
    {
        error(ConfigErrorKind::Type, path(key),
              std::string("expected ") + expected + ", got " + typeName(got));
    }

    static std::string joinChoices(const std::vector<std::string_view> &choices)
    {
        std::string s;
        for (auto c : choices)
            s += (s.empty() ? "" : ", ") + std::string(c);
        return s;
    }

    const json &object() const { return obj_; }

private:
    const json &obj_;
    std::string path_;
    std::vector<ConfigError> &errors_;
    std::set<std::string> known_;
};

// Returns a sub-section if `key` holds an object; records a type error if not.
template <typename Fn> void withObject(Section &parent, const std::string &key, Fn fn)
{
    const json *v = parent.find(key);
    if (!v)
        return;
    if (!v->is_object())
        return parent.typeError(key, "an object", *v);
    fn(*v, parent.path(key));
}

void readSettings(Section &parent, const std::string &key, batman::SettingScope scope,
                  json &out, std::vector<ConfigError> &errors)
{
    withObject(parent, key, [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        for (auto it = obj.begin(); it != obj.end(); ++it) {
            const batman::SettingSpec *spec = batman::findSetting(it.key(), scope);
            if (!spec)
                continue; // reported by rejectUnknown()
            s.find(it.key());
            const json &v = it.value();
            std::string p = joinPath(path, it.key());
            switch (spec->kind) {
            case batman::SettingKind::Bool:
                if (!v.is_boolean())
                    s.error(ConfigErrorKind::Type, p,
                            std::string("expected a boolean (true or false), got ") +
                                typeName(v));
                else
                    out[it.key()] = v;
                break;
            case batman::SettingKind::Uint: {
                std::uint64_t value;
                if (s.checkUint(v, p, spec->min, spec->max, &value))
                    out[it.key()] = value;
                break;
            }
            case batman::SettingKind::Choice: {
                std::string choice;
                s.readChoice(it.key(), choice, spec->choices);
                if (!choice.empty())
                    out[it.key()] = choice;
                break;
            }
            }
        }
        // Name the known settings in the unknown-key message.
        for (const auto &spec : batman::settingSpecs())
            if (spec.scope == scope)
                s.find(std::string(spec.name));
        s.rejectUnknown();
    });
}

std::string checkAbsolutePath(const std::string &s)
{
    if (s.empty() || s.front() != '/')
        return "must be an absolute path";
    if (s.find('\0') != std::string::npos)
        return "must not contain NUL bytes";
    return {};
}

std::string checkSocketPath(const std::string &s)
{
    std::string problem = checkAbsolutePath(s);
    if (!problem.empty())
        return problem;
    if (s.size() >= sizeof(sockaddr_un::sun_path))
        return "is " + std::to_string(s.size()) + " bytes long; a Unix socket path may have at most " +
               std::to_string(sizeof(sockaddr_un::sun_path) - 1);
    if (s.back() == '/')
        return "names a directory, not a socket file";
    return {};
}

std::string checkTrustDomain(const std::string &s)
{
    if (s.empty())
        return "must not be empty";
    if (s.size() > 255)
        return "is longer than 255 bytes";
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
              c == '_'))
            return "may contain only lower-case letters, digits, '.', '-' and '_' (got '" +
                   std::string(1, c) + "')";
    return {};
}

std::string checkEndpoint(const std::string &s)
{
    if (s.empty())
        return {};
    auto parsed = spiffe::parseEndpoint(s);
    if (auto *err = std::get_if<std::string>(&parsed))
        return *err;
    return {};
}

// spiffe.peers: ["IP:port", {"address": "IP:port", "id": "spiffe://td/x"}, ...]
void readSpiffePeers(Section &s, std::vector<SpiffePeer> &out)
{
    const json *v = s.find("peers");
    if (!v)
        return;
    if (!v->is_array())
        return s.typeError("peers", "an array", *v);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < v->size(); ++i) {
        const json &item = (*v)[i];
        std::string path = s.path("peers") + "[" + std::to_string(i) + "]";
        SpiffePeer peer;
        if (item.is_string()) {
            peer.address = item.get<std::string>();
        } else if (item.is_object()) {
            std::vector<ConfigError> errors;
            Section ps(item, path, errors);
            ps.readString("address", peer.address);
            ps.readString("id", peer.id, [](const std::string &id) {
                auto parsed = spiffe::parseId(id);
                if (auto *e = std::get_if<spiffe::IdError>(&parsed))
                    return e->message;
                return std::get<spiffe::SpiffeId>(parsed).isRoot()
                           ? std::string("is a trust domain, not a node's ID")
                           : std::string();
            });
            ps.rejectUnknown();
            for (auto &e : errors)
                s.error(e.kind, e.path, e.message);
            if (!errors.empty())
                continue;
            if (!item.contains("address")) {
                s.error(ConfigErrorKind::Value, path, "needs an \"address\" (IP:port)");
                continue;
            }
            path += ".address";
        } else {
            s.error(ConfigErrorKind::Type, path,
                    std::string("expected \"IP:port\" or an object, got ") + typeName(item));
            continue;
        }
        if (!parseListenAddress(peer.address, nullptr, nullptr)) {
            s.error(ConfigErrorKind::Value, path,
                    "\"" + peer.address + "\" is not an IP:port (198.18.0.2:7946 or [fd00::2]:7946)");
            continue;
        }
        if (!seen.insert(peer.address).second) {
            s.error(ConfigErrorKind::Value, path, "\"" + peer.address + "\" is listed twice");
            continue;
        }
        out.push_back(std::move(peer));
    }
}

void parseMesh(Section &root, Config &c, std::vector<ConfigError> &errors)
{
    withObject(root, "mesh", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        auto ifname = [](const std::string &v) {
            return isValidInterfaceName(v) ? std::string()
                                           : "\"" + v + "\" is not a valid interface name "
                                                        "(1-15 bytes, no '/', ':' or spaces)";
        };
        s.readString("interface", c.mesh.interface, ifname);
        s.readChoice("algorithm", c.mesh.algorithm, {"BATMAN_IV", "BATMAN_V"});
        s.readBool("manage", c.mesh.manage);
        s.readUint("poll_interval_ms", c.mesh.pollIntervalMs, 100, 3600000);
        s.readBool("teardown_on_exit", c.mesh.teardownOnExit);
        json settings = json::object();
        readSettings(s, "settings", batman::SettingScope::Mesh, settings, errors);
        c.mesh.settings = settings;

        if (const json *v = s.find("hardifs")) {
            if (!v->is_array()) {
                s.typeError("hardifs", "an array of interface names or objects", *v);
            } else {
                std::set<std::string> seen;
                for (std::size_t i = 0; i < v->size(); i++) {
                    const json &e = (*v)[i];
                    std::string p = path + ".hardifs[" + std::to_string(i) + "]";
                    HardifConfig h;
                    if (e.is_string()) {
                        h.name = e.get<std::string>();
                    } else if (e.is_object()) {
                        Section hs(e, p, errors);
                        if (!hs.find("name")) {
                            hs.error(ConfigErrorKind::Value, p + ".name",
                                     "missing: every hardif object needs a name");
                            continue;
                        }
                        hs.readString("name", h.name);
                        readSettings(hs, "settings", batman::SettingScope::Hardif, h.settings,
                                     errors);
                        hs.rejectUnknown();
                        p += ".name";
                        if (!hs.find("name")->is_string())
                            continue; // reported by readString()
                    } else {
                        errors.push_back({ConfigErrorKind::Type, p,
                                          std::string("expected an interface name or an "
                                                      "object, got ") +
                                              typeName(e)});
                        continue;
                    }
                    if (!isValidInterfaceName(h.name)) {
                        errors.push_back({ConfigErrorKind::Value, p, ifname(h.name)});
                        continue;
                    }
                    if (!seen.insert(h.name).second) {
                        errors.push_back(
                            {ConfigErrorKind::Value, p, "\"" + h.name + "\" is listed twice"});
                        continue;
                    }
                    if (h.name == c.mesh.interface) {
                        errors.push_back({ConfigErrorKind::Value, p,
                                          "\"" + h.name +
                                              "\" is the mesh interface itself; a hardif must "
                                              "be a different interface"});
                        continue;
                    }
                    c.mesh.hardifs.push_back(std::move(h));
                }
            }
        }
        s.rejectUnknown();
    });
}

void parseControl(Section &root, Config &c, std::vector<ConfigError> &errors)
{
    withObject(root, "control", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        s.readString("socket", c.control.socket, checkSocketPath);
        if (const json *v = s.find("mode")) {
            if (!v->is_string()) {
                s.typeError("mode", "an octal string such as \"0660\"", *v);
            } else {
                std::string m = v->get<std::string>();
                bool ok = !m.empty() && m.size() <= 4;
                unsigned value = 0;
                for (char ch : m) {
                    if (ch < '0' || ch > '7')
                        ok = false;
                    else
                        value = value * 8 + static_cast<unsigned>(ch - '0');
                }
                if (!ok || value > 0777)
                    s.error(ConfigErrorKind::Value, s.path("mode"),
                            "\"" + m + "\" is not a permission mode (octal, at most \"0777\")");
                else if ((value & 0600) != 0600)
                    s.error(ConfigErrorKind::Value, s.path("mode"),
                            "\"" + m + "\" would lock out the socket's owner (needs 0600)");
                else
                    c.control.mode = static_cast<mode_t>(value);
            }
        }
        if (s.find("group"))
            c.control.groupExplicit = true;
        s.readString("group", c.control.group, [](const std::string &g) {
            return g.empty() || g.size() > 32 ? std::string("must be a group name") : "";
        });
        s.readString("admin_group", c.control.adminGroup, [](const std::string &g) {
            return g.size() > 32 ? std::string("must be a group name (at most 32 bytes) or \"\"")
                                 : "";
        });
        s.readUint("max_clients", c.control.maxClients, 1, 4096);
        s.readUint("write_timeout_ms", c.control.writeTimeoutMs, 100, 600000);
        s.rejectUnknown();
    });
}

void parseRest(Section &root, Config &c, std::vector<ConfigError> &errors)
{
    withObject(root, "metrics", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        s.readBool("enabled", c.metrics.enabled);
        s.readString("listen", c.metrics.listen, [](const std::string &v) {
            return parseListenAddress(v, nullptr, nullptr)
                       ? std::string()
                       : "\"" + v + "\" is not an address:port (127.0.0.1:9474 or [::1]:9474)";
        });
        s.rejectUnknown();
    });
    withObject(root, "probes", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        s.readBool("enabled", c.probes.enabled);
        // "" (the default) is the kernel's own BTF, as configToJson writes it.
        s.readString("btf", c.probes.btf, [](const std::string &v) {
            return v.empty() ? std::string() : checkAbsolutePath(v);
        });
        s.rejectUnknown();
    });
    withObject(root, "spiffe", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        s.readString("endpoint", c.spiffe.endpoint, checkEndpoint);
        s.readString("trust_domain", c.spiffe.trustDomain, checkTrustDomain);
        if (const json *a = s.find("authorize")) {
            auto parsed = spiffe::parseAuthorizer(*a);
            if (auto *e = std::get_if<spiffe::AuthorizeConfigError>(&parsed))
                s.error(a->is_object() ? ConfigErrorKind::Value : ConfigErrorKind::Type,
                        e->path.empty() ? s.path("authorize")
                                        : joinPath(s.path("authorize"), e->path),
                        e->message);
            else
                c.spiffe.authorize = *a;
        }
        s.readString("listen", c.spiffe.listen, [](const std::string &v) {
            return v.empty() || parseListenAddress(v, nullptr, nullptr)
                       ? std::string()
                       : "\"" + v + "\" is not an address:port (0.0.0.0:7946 or [::]:7946)";
        });
        readSpiffePeers(s, c.spiffe.peers);
        s.readUint("retry_max_ms", c.spiffe.retryMaxMs, 100, 3600000);
        s.readUint("peer_retry_ms", c.spiffe.peerRetryMs, 100, 3600000);
        s.readUint("handshake_timeout_ms", c.spiffe.handshakeTimeoutMs, 100, 600000);
        s.readString("node_name", c.spiffe.nodeName, [](const std::string &v) {
            if (v.size() > 64)
                return std::string("is longer than 64 bytes");
            for (unsigned char ch : v)
                if (ch < 0x21 || ch > 0x7e)
                    return std::string("may contain only printable ASCII without spaces");
            return std::string();
        });
        if (const json *v = s.find("agent_uid")) {
            std::uint64_t uid = 0;
            if (v->is_string() && v->get<std::string>() == "any")
                c.spiffe.anyAgentUid = true;
            else if (v->is_string())
                s.error(ConfigErrorKind::Value, s.path("agent_uid"),
                        "must be a uid (0..4294967294) or \"any\"");
            else if (s.checkUint(*v, s.path("agent_uid"), 0, 4294967294u, &uid))
                c.spiffe.agentUid = static_cast<std::uint32_t>(uid);
        }
        s.readBool("allow_remote_endpoint", c.spiffe.allowRemoteEndpoint);
        if (!c.spiffe.endpoint.empty() && !c.spiffe.allowRemoteEndpoint) {
            auto parsed = spiffe::parseEndpoint(c.spiffe.endpoint);
            if (auto *e = std::get_if<spiffe::Endpoint>(&parsed); e && !spiffe::endpointIsLocal(*e))
                s.error(ConfigErrorKind::Value, s.path("endpoint"),
                        spiffe::remoteEndpointRefusal(*e));
        }
        if (c.spiffe.trustDomain.empty() && !s.object().contains("trust_domain") &&
            (!c.spiffe.listen.empty() || !c.spiffe.peers.empty()))
            s.error(ConfigErrorKind::Value, s.path("trust_domain"),
                    "is required for spiffe.listen and spiffe.peers (mTLS needs an identity)");
        s.rejectUnknown();
    });
    withObject(root, "tunnel", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        s.readBool("enabled", c.tunnel.enabled);
        s.readString("interface", c.tunnel.interface, [](const std::string &v) {
            return isValidInterfaceName(v) ? std::string()
                                           : "\"" + v + "\" is not a valid interface name "
                                                        "(1-15 bytes, no '/', ':' or spaces)";
        });
        s.readString("listen", c.tunnel.listen, [](const std::string &v) {
            return parseListenAddress(v, nullptr, nullptr)
                       ? std::string()
                       : "\"" + v + "\" is not an address:port (0.0.0.0:7947 or [::]:7947)";
        });
        if (const json *m = s.find("mtu")) {
            std::uint64_t value = 0;
            if (m->is_number_unsigned() && m->get<std::uint64_t>() == 0)
                c.tunnel.mtu = 0;
            else if (s.checkUint(*m, s.path("mtu"), 576, 9000, &value))
                c.tunnel.mtu = static_cast<std::uint32_t>(value);
        }
        s.readUint("workers", c.tunnel.workers, 0, 16);
        s.readChoice("cipher", c.tunnel.cipher, {"auto", "chacha20-poly1305", "aes-256-gcm"});
        if (const json *a = s.find("attach")) {
            if (!a->is_boolean())
                s.typeError("attach", "a boolean (true or false)", *a);
            else
                c.tunnel.attach = a->get<bool>();
        }
        s.readChoice("io", c.tunnel.io, {"auto", "packet-ring", "tap"});
        s.readUint("rekey_seconds", c.tunnel.rekeySeconds, 10, 86400);
        s.readString("fastd_status_socket", c.tunnel.fastdStatusSocket,
                     [](const std::string &v) { return v.empty() ? std::string() : checkSocketPath(v); });
        if (c.tunnel.enabled && c.spiffe.trustDomain.empty())
            s.error(ConfigErrorKind::Value, s.path("enabled"),
                    "the tunnel needs spiffe.trust_domain: its keys are exchanged over the "
                    "mTLS peer channel");
        for (const auto &h : c.mesh.hardifs)
            if (c.tunnel.enabled && h.name == c.tunnel.interface)
                s.error(ConfigErrorKind::Value, s.path("interface"),
                        "\"" + h.name + "\" is also in mesh.hardifs: the tunnel attaches its "
                        "interface itself (tunnel.attach)");
        if (c.tunnel.enabled && c.tunnel.interface == c.mesh.interface)
            s.error(ConfigErrorKind::Value, s.path("interface"),
                    "\"" + c.tunnel.interface + "\" is the mesh interface itself");
        s.rejectUnknown();
    });
    withObject(root, "log", [&](const json &obj, const std::string &path) {
        Section s(obj, path, errors);
        std::string level = logLevelName(c.log.level);
        s.readChoice("level", level, {"error", "warning", "info", "debug"});
        c.log.level = *parseLogLevel(level);
        std::string target = c.log.target == LogTarget::Syslog ? "syslog" : "stderr";
        s.readChoice("target", target, {"stderr", "syslog"});
        c.log.target = target == "syslog" ? LogTarget::Syslog : LogTarget::Stderr;
        s.rejectUnknown();
    });
}

// Tracks where the parser is, to name duplicate keys by their path
// (nlohmann::json silently keeps the last of two equal keys).
class DuplicateKeyFinder {
public:
    bool operator()(int, json::parse_event_t event, json &parsed)
    {
        switch (event) {
        case json::parse_event_t::object_start:
            frames_.push_back({true, {}, {}, 0});
            break;
        case json::parse_event_t::array_start:
            frames_.push_back({false, {}, {}, 0});
            break;
        case json::parse_event_t::key: {
            Frame &f = frames_.back();
            f.key = parsed.get<std::string>();
            if (!f.keys.insert(f.key).second && !found)
                found = ConfigError{ConfigErrorKind::DuplicateKey, path(),
                                    "key appears twice in the same object"};
            break;
        }
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            frames_.pop_back();
            elementDone();
            break;
        case json::parse_event_t::value:
            elementDone();
            break;
        }
        return true;
    }

    std::optional<ConfigError> found;

private:
    struct Frame {
        bool object;
        std::set<std::string> keys;
        std::string key;
        std::size_t index;
    };
    void elementDone()
    {
        if (!frames_.empty() && !frames_.back().object)
            frames_.back().index++;
    }
    std::string path() const
    {
        std::string p;
        for (const auto &f : frames_) {
            if (f.object)
                p = joinPath(p, f.key);
            else
                p += "[" + std::to_string(f.index) + "]";
        }
        return p;
    }
    std::vector<Frame> frames_;
};

std::string lineColumn(std::string_view text, std::size_t byte)
{
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < byte && i < text.size(); i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return "line " + std::to_string(line) + " column " + std::to_string(col);
}

} // namespace

std::vector<ConfigError> validateSettings(const json &settings, bool hardif, json &out)
{
    std::vector<ConfigError> errors;
    json wrapper = {{"settings", settings}};
    Section root(wrapper, "", errors);
    readSettings(root, "settings", hardif ? batman::SettingScope::Hardif : batman::SettingScope::Mesh,
                 out, errors);
    for (auto &e : errors)
        if (e.path.rfind("settings.", 0) == 0)
            e.path.erase(0, 9);
    return errors;
}

ConfigResult parseConfig(std::string_view text, const std::string &defaultSocket)
{
    ConfigResult result;
    json doc;
    DuplicateKeyFinder dups;
    if (!jsonDepthWithin(text)) {
        result.errors.push_back({ConfigErrorKind::Syntax, "",
                                 "the config nests arrays or objects deeper than " +
                                     std::to_string(maxJsonDepth) + " levels"});
        return result;
    }
    try {
        doc = json::parse(text.begin(), text.end(), std::ref(dups));
    } catch (const json::parse_error &e) {
        std::string what = e.what();
        // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> keep the tail.
        auto colon = what.find(": ");
        std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
        std::size_t byte = e.byte > 0 ? e.byte - 1 : 0;
        result.errors.push_back({ConfigErrorKind::Syntax, "",
                                 "not valid JSON at " + lineColumn(text, byte) + ": " + detail});
        return result;
    } catch (const json::exception &e) {
        // A number too large for a double ("1e400": out_of_range 406) is
        // reported by an exception of its own; it once ended meshd --check
        // and a reload with std::terminate.
        std::string what = e.what();
        auto space = what.find("] ");
        result.errors.push_back({ConfigErrorKind::Syntax, "",
                                 "not valid JSON: " +
                                     (space == std::string::npos ? what : what.substr(space + 2))});
        return result;
    }
    if (dups.found) {
        result.errors.push_back(*dups.found);
        return result;
    }
    if (!doc.is_object()) {
        result.errors.push_back({ConfigErrorKind::Type, "",
                                 std::string("the config must be a JSON object, got ") +
                                     typeName(doc)});
        return result;
    }

    Config c;
    c.control.socket = defaultSocket;
    Section root(doc, "", result.errors);
    parseMesh(root, c, result.errors);
    parseControl(root, c, result.errors);
    parseRest(root, c, result.errors);
    root.rejectUnknown();

    if (result.errors.empty())
        result.config = std::move(c);
    return result;
}

ConfigResult loadConfigFile(const std::string &path, const std::string &defaultSocket)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        int err = errno;
        ConfigResult r;
        r.errors.push_back({ConfigErrorKind::Io, "", "cannot read: " + std::string(strerror(err))});
        return r;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 16 * 1024 * 1024) {
        ConfigResult r;
        r.errors.push_back({ConfigErrorKind::Io, "", "file is larger than 16 MiB"});
        return r;
    }
    // /etc/config/meshd has no extension: the syntax is told by the content.
    if (looksLikeUci(text))
        return parseUciConfig(text, defaultSocket);
    return parseConfig(text, defaultSocket);
}

json configToJson(const Config &c)
{
    json hardifs = json::array();
    for (const auto &h : c.mesh.hardifs)
        hardifs.push_back(h.settings.empty() ? json(h.name)
                                             : json{{"name", h.name}, {"settings", h.settings}});
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(c.control.mode));
    json peers = json::array();
    for (const auto &p : c.spiffe.peers)
        peers.push_back(p.id.empty() ? json(p.address) : json{{"address", p.address}, {"id", p.id}});
    return {
        {"mesh",
         {{"interface", c.mesh.interface},
          {"algorithm", c.mesh.algorithm},
          {"manage", c.mesh.manage},
          {"hardifs", hardifs},
          {"settings", c.mesh.settings},
          {"poll_interval_ms", c.mesh.pollIntervalMs},
          {"teardown_on_exit", c.mesh.teardownOnExit}}},
        {"control",
         {{"socket", c.control.socket},
          {"mode", mode},
          {"group", c.control.group},
          {"admin_group", c.control.adminGroup},
          {"max_clients", c.control.maxClients},
          {"write_timeout_ms", c.control.writeTimeoutMs}}},
        {"metrics", {{"enabled", c.metrics.enabled}, {"listen", c.metrics.listen}}},
        {"probes", {{"enabled", c.probes.enabled}, {"btf", c.probes.btf}}},
        {"spiffe",
         {{"endpoint", c.spiffe.endpoint},
          {"trust_domain", c.spiffe.trustDomain},
          {"authorize", c.spiffe.authorize.is_null() && !c.spiffe.trustDomain.empty()
                            ? json{{"member_of", c.spiffe.trustDomain}}
                            : c.spiffe.authorize},
          {"listen", c.spiffe.listen},
          {"peers", peers},
          {"retry_max_ms", c.spiffe.retryMaxMs},
          {"peer_retry_ms", c.spiffe.peerRetryMs},
          {"handshake_timeout_ms", c.spiffe.handshakeTimeoutMs},
          {"node_name", c.spiffe.nodeName},
          {"agent_uid", c.spiffe.anyAgentUid ? json("any")
                        : c.spiffe.agentUid  ? json(*c.spiffe.agentUid)
                                             : json(nullptr)},
          {"allow_remote_endpoint", c.spiffe.allowRemoteEndpoint}}},
        {"tunnel",
         {{"enabled", c.tunnel.enabled},
          {"interface", c.tunnel.interface},
          {"listen", c.tunnel.listen},
          {"mtu", c.tunnel.mtu},
          {"workers", c.tunnel.workers},
          {"cipher", c.tunnel.cipher},
          {"attach", c.tunnel.attach.value_or(c.mesh.manage)},
          {"io", c.tunnel.io},
          {"rekey_seconds", c.tunnel.rekeySeconds},
          {"fastd_status_socket", c.tunnel.fastdStatusSocket}}},
        {"log",
         {{"level", logLevelName(c.log.level)},
          {"target", c.log.target == LogTarget::Syslog ? "syslog" : "stderr"}}},
    };
}

ConfigDiff diffConfig(const Config &from, const Config &to)
{
    ConfigDiff d;
    json a = configToJson(from), b = configToJson(to);
    // Settings that the running daemon picks up without a restart.
    static const std::set<std::string> live = {
        "log.level",          "log.target",       "control.mode",      "control.group",
        "control.admin_group",
        "control.max_clients", "control.write_timeout_ms", "mesh.settings", "mesh.hardifs",
        "mesh.poll_interval_ms", "mesh.teardown_on_exit",
    };
    for (auto section = b.begin(); section != b.end(); ++section) {
        for (auto key = section->begin(); key != section->end(); ++key) {
            std::string path = section.key() + "." + key.key();
            if (a[section.key()][key.key()] == key.value())
                continue;
            (live.count(path) ? d.applied : d.restartRequired).push_back(path);
        }
    }
    return d;
}

} // namespace meshd
