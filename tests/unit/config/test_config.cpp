// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <fstream>

#include "config.h"

using namespace meshd;

namespace {

const std::string sock = "/run/meshd/meshd.sock";

ConfigResult parse(const std::string &text) { return parseConfig(text, sock); }

// The single error of a config expected to have exactly one.
ConfigError onlyError(const std::string &text)
{
    ConfigResult r = parse(text);
    INFO(text);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.errors.size() == 1);
    return r.errors[0];
}

} // namespace

TEST_CASE("empty config gives the documented defaults", "[config]")
{
    ConfigResult r = parse("{}");
    REQUIRE(r.ok());
    const Config &c = *r.config;
    CHECK(c.mesh.interface == "bat0");
    CHECK(c.mesh.algorithm == "BATMAN_IV");
    CHECK(c.mesh.manage);
    CHECK(c.mesh.hardifs.empty());
    CHECK(c.mesh.pollIntervalMs == 1000);
    CHECK_FALSE(c.mesh.teardownOnExit);
    CHECK(c.control.socket == sock);
    CHECK(c.control.mode == 0660);
    CHECK(c.control.maxClients == 256);
    CHECK(c.control.writeTimeoutMs == 5000);
    CHECK(c.metrics.enabled);
    CHECK(c.metrics.listen == "127.0.0.1:9474");
    CHECK(c.probes.enabled);
    CHECK_FALSE(c.tunnel.enabled);
    CHECK(c.log.level == LogLevel::Info);
}

TEST_CASE("the contract's example config is valid", "[config]")
{
    ConfigResult r = parse(R"({
      "mesh":    { "interface": "bat0", "algorithm": "BATMAN_IV", "manage": true,
                   "hardifs": ["eth1"], "settings": { "orig_interval_ms": 1000, "hop_penalty": 30 } },
      "control": { "socket": "/run/meshd/meshd.sock", "mode": "0660" },
      "metrics": { "listen": "127.0.0.1:9474" },
      "probes":  { "enabled": true },
      "spiffe":  { "endpoint": "unix:///run/spire/agent.sock", "trust_domain": "mesh.example.org" },
      "tunnel":  { "enabled": false }
    })");
    REQUIRE(r.ok());
    CHECK(r.config->mesh.hardifs.size() == 1);
    CHECK(r.config->mesh.hardifs[0].name == "eth1");
    CHECK(r.config->mesh.settings["hop_penalty"] == 30);
    CHECK(r.config->mesh.settings["orig_interval_ms"] == 1000);
    CHECK(r.config->spiffe.trustDomain == "mesh.example.org");
}

TEST_CASE("hardifs may be objects with their own settings", "[config]")
{
    ConfigResult r = parse(R"({"mesh": {"algorithm": "BATMAN_V", "hardifs": [
        "eth1", {"name": "mesh0", "settings": {"hop_penalty": 5, "elp_interval_ms": 500}}]}})");
    REQUIRE(r.ok());
    REQUIRE(r.config->mesh.hardifs.size() == 2);
    CHECK(r.config->mesh.hardifs[1].name == "mesh0");
    CHECK(r.config->mesh.hardifs[1].settings["elp_interval_ms"] == 500);
}

TEST_CASE("syntax errors name line and column", "[config]")
{
    ConfigError e = onlyError("{\n  \"mesh\": {\n    \"manage\": tru\n  }\n}");
    CHECK(e.kind == ConfigErrorKind::Syntax);
    CHECK_THAT(e.message, Catch::Contains("line 3"));
    CHECK(onlyError("").kind == ConfigErrorKind::Syntax);
    CHECK(onlyError("{\"mesh\": {}} trailing").kind == ConfigErrorKind::Syntax);
}

TEST_CASE("deep nesting is an error, not a crash", "[config][hostile]")
{
    std::string deep = "{\"mesh\": " + std::string(200000, '[') + std::string(200000, ']') + "}";
    ConfigError e = onlyError(deep);
    CHECK(e.kind == ConfigErrorKind::Syntax);
    CHECK(e.message == "the config nests arrays or objects deeper than 32 levels");
    // Deep but within the bound: the usual type error.
    CHECK(onlyError("{\"mesh\": [[[[1]]]]}").path == "mesh");
}

TEST_CASE("unknown keys are errors naming their path", "[config]")
{
    ConfigError e = onlyError(R"({"mesh": {"settings": {"hop_penaltyy": 3}}})");
    CHECK(e.kind == ConfigErrorKind::UnknownKey);
    CHECK(e.path == "mesh.settings.hop_penaltyy");
    CHECK_THAT(e.message, Catch::Contains("hop_penalty"));

    CHECK(onlyError(R"({"meshh": {}})").path == "meshh");
    CHECK(onlyError(R"({"control": {"sockett": "/x"}})").path == "control.sockett");
    CHECK(onlyError(R"({"mesh": {"hardifs": [{"name": "eth0", "mtu": 1500}]}})").path ==
          "mesh.hardifs[0].mtu");
    // A mesh-only setting is unknown on a hardif.
    CHECK(onlyError(R"({"mesh": {"hardifs": [{"name": "eth0", "settings": {"gw_mode": "off"}}]}})")
              .path == "mesh.hardifs[0].settings.gw_mode");
}

TEST_CASE("duplicate keys are errors", "[config]")
{
    ConfigError e = onlyError(R"({"mesh": {"manage": true, "manage": false}})");
    CHECK(e.kind == ConfigErrorKind::DuplicateKey);
    CHECK(e.path == "mesh.manage");
    ConfigError a = onlyError(R"({"mesh": {"hardifs": [{"name": "a", "name": "b"}]}})");
    CHECK(a.path == "mesh.hardifs[0].name");
    // Equal keys in different objects are fine.
    CHECK(parse(R"({"metrics": {"enabled": true}, "probes": {"enabled": true}})").ok());
}

TEST_CASE("wrong types are errors naming path and types", "[config]")
{
    ConfigError e = onlyError(R"({"mesh": {"manage": "yes"}})");
    CHECK(e.kind == ConfigErrorKind::Type);
    CHECK(e.path == "mesh.manage");
    CHECK_THAT(e.message, Catch::Contains("boolean") && Catch::Contains("string"));

    CHECK(onlyError(R"({"mesh": 3})").path == "mesh");
    CHECK(onlyError(R"({"mesh": {"hardifs": "eth0"}})").path == "mesh.hardifs");
    CHECK(onlyError(R"({"mesh": {"hardifs": [3]}})").path == "mesh.hardifs[0]");
    CHECK(onlyError(R"({"mesh": {"settings": {"hop_penalty": "30"}}})").kind ==
          ConfigErrorKind::Type);
    CHECK(onlyError(R"({"mesh": {"settings": {"hop_penalty": 3.5}}})").kind ==
          ConfigErrorKind::Type);
    CHECK(onlyError(R"({"control": {"mode": 660}})").path == "control.mode");
    CHECK(onlyError("[]").kind == ConfigErrorKind::Type);
}

TEST_CASE("out-of-range numbers are errors", "[config]")
{
    ConfigError e = onlyError(R"({"mesh": {"settings": {"hop_penalty": 256}}})");
    CHECK(e.kind == ConfigErrorKind::Range);
    CHECK(e.path == "mesh.settings.hop_penalty");
    CHECK_THAT(e.message, Catch::Contains("0..255"));
    CHECK(onlyError(R"({"mesh": {"settings": {"hop_penalty": -1}}})").kind ==
          ConfigErrorKind::Range);
    CHECK(onlyError(R"({"mesh": {"settings": {"orig_interval_ms": 39}}})").kind ==
          ConfigErrorKind::Range);
    CHECK(onlyError(R"({"mesh": {"poll_interval_ms": 0}})").kind == ConfigErrorKind::Range);
    CHECK(onlyError(R"({"control": {"max_clients": 0}})").kind == ConfigErrorKind::Range);
    CHECK(onlyError(R"({"control": {"max_clients": 99999999999999999999}})").kind !=
          ConfigErrorKind::Syntax);
}

TEST_CASE("invalid values are errors", "[config]")
{
    auto value = [](const std::string &text, const std::string &path) {
        ConfigError e = onlyError(text);
        CHECK(e.kind == ConfigErrorKind::Value);
        CHECK(e.path == path);
    };
    value(R"({"mesh": {"algorithm": "BATMAN_VI"}})", "mesh.algorithm");
    value(R"({"mesh": {"interface": "a/b"}})", "mesh.interface");
    value(R"({"mesh": {"interface": "sixteen_chars_xx"}})", "mesh.interface");
    value(R"({"mesh": {"hardifs": ["eth0", "eth0"]}})", "mesh.hardifs[1]");
    value(R"({"mesh": {"hardifs": ["bat0"]}})", "mesh.hardifs[0]");
    value(R"({"mesh": {"hardifs": [{"settings": {}}]}})", "mesh.hardifs[0].name");
    value(R"({"mesh": {"settings": {"gw_mode": "both"}}})", "mesh.settings.gw_mode");
    value(R"({"control": {"socket": "relative.sock"}})", "control.socket");
    value(R"({"control": {"socket": "/)" + std::string(120, 'x') + R"("}})", "control.socket");
    value(R"({"control": {"mode": "0999"}})", "control.mode");
    value(R"({"control": {"mode": "0060"}})", "control.mode");
    value(R"({"metrics": {"listen": "localhost:9474"}})", "metrics.listen");
    value(R"({"metrics": {"listen": "127.0.0.1:70000"}})", "metrics.listen");
    value(R"({"metrics": {"listen": "127.0.0.1"}})", "metrics.listen");
    value(R"({"spiffe": {"trust_domain": "Mesh.Example"}})", "spiffe.trust_domain");
    value(R"({"spiffe": {"endpoint": "http://x"}})", "spiffe.endpoint");
    value(R"({"spiffe": {"endpoint": "unix://relative"}})", "spiffe.endpoint");
    value(R"({"probes": {"btf": "vmlinux"}})", "probes.btf");
    value(R"({"log": {"level": "verbose"}})", "log.level");
}

TEST_CASE("every error is reported, not just the first", "[config]")
{
    ConfigResult r = parse(R"({"mesh": {"manage": 1, "interface": "x/y"}, "bogus": 1})");
    REQUIRE_FALSE(r.ok());
    CHECK(r.errors.size() == 3);
}

TEST_CASE("a missing file is an io error", "[config]")
{
    ConfigResult r = loadConfigFile("/nonexistent/meshd.json", sock);
    REQUIRE_FALSE(r.ok());
    CHECK(r.errors[0].kind == ConfigErrorKind::Io);
}

TEST_CASE("reload diff separates live settings from restart-only ones", "[config]")
{
    Config a = *parse("{}").config;
    Config b = *parse(R"({"log": {"level": "debug"}, "metrics": {"listen": "127.0.0.1:9999"},
                         "mesh": {"settings": {"hop_penalty": 10}}})")
                    .config;
    ConfigDiff d = diffConfig(a, b);
    CHECK(d.applied == std::vector<std::string>{"log.level", "mesh.settings"});
    CHECK(d.restartRequired == std::vector<std::string>{"metrics.listen"});
    CHECK(diffConfig(a, a).empty());
}

TEST_CASE("a number too large for a double is a syntax error, not a crash", "[config]")
{
    // nlohmann reports it with out_of_range (406), not parse_error: found by
    // tests/fuzz (fuzz_config); it once ended meshd --check with std::terminate.
    ConfigError e = onlyError(R"({"mesh": {"poll_interval_ms": 1e400}})");
    CHECK(e.kind == ConfigErrorKind::Syntax);
    CHECK_THAT(e.message, Catch::Contains("number overflow"));
    CHECK(onlyError(R"({"mesh": {"settings": {"hop_penalty": -1e999}}})").kind ==
          ConfigErrorKind::Syntax);
}

TEST_CASE("control.admin_group: default, empty, too long, live on reload", "[config]")
{
    CHECK(parse("{}").config->control.adminGroup == "meshd-admin");
    ConfigResult empty = parse(R"({"control": {"admin_group": ""}})");
    REQUIRE(empty.ok());
    CHECK(empty.config->control.adminGroup.empty());
    ConfigError e = onlyError(R"({"control": {"admin_group": ")" + std::string(33, 'g') + "\"}}");
    CHECK(e.path == "control.admin_group");
    CHECK_THAT(e.message, Catch::Contains("32 bytes"));
    CHECK(onlyError(R"({"control": {"admin_group": 7}})").path == "control.admin_group");
    ConfigDiff d = diffConfig(*parse("{}").config, *empty.config);
    CHECK(d.applied == std::vector<std::string>{"control.admin_group"});
    CHECK(d.restartRequired.empty());
}

TEST_CASE("spiffe section: authorizer, listen, peers and timers", "[config]")
{
    ConfigResult r = parse(R"({"spiffe": {
        "endpoint": "unix:///run/spire/agent.sock", "trust_domain": "mesh.test",
        "authorize": {"ids": ["spiffe://mesh.test/node/b"]},
        "listen": "[::]:7946",
        "peers": ["198.18.0.2:7946", {"address": "[fd00::3]:7946", "id": "spiffe://mesh.test/node/c"}],
        "retry_max_ms": 2000, "peer_retry_ms": 500, "handshake_timeout_ms": 3000,
        "node_name": "router-1"}})");
    REQUIRE(r.ok());
    const auto &s = r.config->spiffe;
    CHECK(s.listen == "[::]:7946");
    REQUIRE(s.peers.size() == 2);
    CHECK(s.peers[0].address == "198.18.0.2:7946");
    CHECK(s.peers[0].id.empty());
    CHECK(s.peers[1].id == "spiffe://mesh.test/node/c");
    CHECK(s.retryMaxMs == 2000);
    CHECK(s.peerRetryMs == 500);
    CHECK(s.handshakeTimeoutMs == 3000);
    CHECK(s.nodeName == "router-1");
    CHECK(s.authorize["ids"][0] == "spiffe://mesh.test/node/b");
    // The default authorizer shows in the effective config.
    ConfigResult d = parse(R"({"spiffe": {"trust_domain": "mesh.test"}})");
    REQUIRE(d.ok());
    CHECK(configToJson(*d.config)["spiffe"]["authorize"] == nlohmann::json{{"member_of", "mesh.test"}});
}

TEST_CASE("spiffe section errors name the key", "[config]")
{
    auto error = [](const std::string &text, const std::string &path) {
        ConfigError e = onlyError(text);
        CHECK(e.path == path);
        return e;
    };
    error(R"({"spiffe": {"trust_domain": "t", "authorize": {"ids": ["spiffe://t/a", "http://x"]}}})",
          "spiffe.authorize.ids[1]");
    error(R"({"spiffe": {"trust_domain": "t", "authorize": {"member_of": "T!"}}})",
          "spiffe.authorize.member_of");
    error(R"({"spiffe": {"trust_domain": "t", "authorize": "any"}})", "spiffe.authorize");
    error(R"({"spiffe": {"trust_domain": "t", "listen": "localhost:1"}})", "spiffe.listen");
    error(R"({"spiffe": {"trust_domain": "t", "peers": "198.18.0.2:1"}})", "spiffe.peers");
    error(R"({"spiffe": {"trust_domain": "t", "peers": ["host:1"]}})", "spiffe.peers[0]");
    error(R"({"spiffe": {"trust_domain": "t", "peers": ["198.18.0.2:1", "198.18.0.2:1"]}})",
          "spiffe.peers[1]");
    error(R"({"spiffe": {"trust_domain": "t", "peers": [{"id": "spiffe://t/a"}]}})",
          "spiffe.peers[0]");
    error(R"({"spiffe": {"trust_domain": "t", "peers": [{"address": "198.18.0.2:1", "id": "spiffe://t"}]}})",
          "spiffe.peers[0].id");
    error(R"({"spiffe": {"trust_domain": "t", "peers": [{"address": "198.18.0.2:1", "port": 1}]}})",
          "spiffe.peers[0].port");
    error(R"({"spiffe": {"trust_domain": "t", "peers": [7]}})", "spiffe.peers[0]");
    error(R"({"spiffe": {"listen": "127.0.0.1:7946"}})", "spiffe.trust_domain");
    error(R"({"spiffe": {"trust_domain": "t", "retry_max_ms": 10}})", "spiffe.retry_max_ms");
    error(R"({"spiffe": {"trust_domain": "t", "node_name": "has space"}})", "spiffe.node_name");
    error(R"({"spiffe": {"endpoint": "tcp://localhost:1"}})", "spiffe.endpoint");
    error(R"({"spiffe": {"endpoint": "unix:///a?b"}})", "spiffe.endpoint");
    error(R"({"spiffe": {"endpoint": "tcp://198.18.0.1:8081"}})", "spiffe.endpoint");
    error(R"({"spiffe": {"agent_uid": -1}})", "spiffe.agent_uid");
    error(R"({"spiffe": {"agent_uid": 4294967295}})", "spiffe.agent_uid");
    error(R"({"spiffe": {"agent_uid": "spire"}})", "spiffe.agent_uid");
    error(R"({"spiffe": {"allow_remote_endpoint": 1}})", "spiffe.allow_remote_endpoint");
}

TEST_CASE("spiffe: who may serve the Workload API, and where", "[config]")
{
    ConfigResult d = parse("{}");
    REQUIRE(d.ok());
    CHECK_FALSE(d.config->spiffe.agentUid);
    CHECK_FALSE(d.config->spiffe.anyAgentUid);
    CHECK_FALSE(d.config->spiffe.allowRemoteEndpoint);
    CHECK(configToJson(*d.config)["spiffe"]["agent_uid"].is_null());
    ConfigResult uid = parse(R"({"spiffe": {"agent_uid": 998}})");
    REQUIRE(uid.ok());
    CHECK(uid.config->spiffe.agentUid == 998u);
    CHECK(configToJson(*uid.config)["spiffe"]["agent_uid"] == 998);
    ConfigResult any = parse(R"({"spiffe": {"agent_uid": "any"}})");
    REQUIRE(any.ok());
    CHECK(any.config->spiffe.anyAgentUid);
    CHECK(configToJson(*any.config)["spiffe"]["agent_uid"] == "any");
    ConfigResult remote = parse(
        R"({"spiffe": {"endpoint": "tcp://198.18.0.1:8081", "allow_remote_endpoint": true}})");
    REQUIRE(remote.ok());
    CHECK(remote.config->spiffe.allowRemoteEndpoint);
    CHECK(parse(R"({"spiffe": {"endpoint": "tcp://[::1]:8081"}})").ok());
    ConfigError e = onlyError(R"({"spiffe": {"endpoint": "tcp://198.18.0.1:8081"}})");
    CHECK_THAT(e.message, Catch::Contains("not on this host"));
}

TEST_CASE("tunnel section: defaults and every key", "[config]")
{
    ConfigResult d = parse("{}");
    REQUIRE(d.ok());
    const auto &t = d.config->tunnel;
    CHECK(t.interface == "mesh-vpn");
    CHECK(t.listen == "0.0.0.0:7947");
    CHECK(t.mtu == 0);
    CHECK(t.workers == 0);
    CHECK(t.cipher == "auto");
    CHECK_FALSE(t.attach.has_value());
    CHECK(t.io == "auto");
    CHECK(t.rekeySeconds == 120);
    CHECK(t.fastdStatusSocket.empty());
    CHECK(configToJson(*d.config)["tunnel"]["attach"] == true); // manage mode
    ConfigResult observe = parse(R"({"mesh": {"manage": false}})");
    REQUIRE(observe.ok());
    CHECK(configToJson(*observe.config)["tunnel"]["attach"] == false);

    ConfigResult r = parse(R"({"spiffe": {"trust_domain": "mesh.test"},
      "tunnel": {"enabled": true, "interface": "vpn0", "listen": "[::]:10000", "mtu": 1400,
                 "workers": 2, "cipher": "aes-256-gcm", "attach": false, "io": "tap",
                 "rekey_seconds": 60, "fastd_status_socket": "/run/meshd/fastd.sock"}})");
    REQUIRE(r.ok());
    const auto &u = r.config->tunnel;
    CHECK(u.enabled);
    CHECK(u.interface == "vpn0");
    CHECK(u.listen == "[::]:10000");
    CHECK(u.mtu == 1400);
    CHECK(u.workers == 2);
    CHECK(u.cipher == "aes-256-gcm");
    CHECK(u.attach == false);
    CHECK(u.io == "tap");
    CHECK(u.rekeySeconds == 60);
    CHECK(u.fastdStatusSocket == "/run/meshd/fastd.sock");
    CHECK(diffConfig(*d.config, *r.config).restartRequired.size() >= 9);
}

TEST_CASE("tunnel section errors name the key", "[config]")
{
    auto error = [](const std::string &tunnel, const std::string &path) {
        ConfigError e = onlyError(R"({"spiffe": {"trust_domain": "t"}, "tunnel": )" + tunnel + "}");
        CHECK(e.path == path);
        return e;
    };
    error(R"({"interface": "a/b"})", "tunnel.interface");
    error(R"({"listen": "localhost:1"})", "tunnel.listen");
    error(R"({"mtu": 100})", "tunnel.mtu");
    error(R"({"mtu": 9001})", "tunnel.mtu");
    error(R"({"workers": 17})", "tunnel.workers");
    error(R"({"cipher": "salsa2012+umac"})", "tunnel.cipher");
    error(R"({"attach": "yes"})", "tunnel.attach");
    error(R"({"io": "xdp"})", "tunnel.io");
    error(R"({"rekey_seconds": 5})", "tunnel.rekey_seconds");
    error(R"({"fastd_status_socket": "fastd.sock"})", "tunnel.fastd_status_socket");
    error(R"({"enabled": true, "interface": "bat0"})", "tunnel.interface");
    error(R"({"peers": []})", "tunnel.peers");
    ConfigError e = onlyError(R"({"tunnel": {"enabled": true}})");
    CHECK(e.path == "tunnel.enabled");
    CHECK_THAT(e.message, Catch::Contains("spiffe.trust_domain"));
    ConfigError h = onlyError(R"({"mesh": {"hardifs": ["mesh-vpn"]}, "spiffe": {"trust_domain": "t"},
                                  "tunnel": {"enabled": true}})");
    CHECK(h.path == "tunnel.interface");
}

TEST_CASE("the effective config, as status shows it, is a valid config of its own (but spiffe)", "[config]")
{
    // What configToJson writes (meshctl status, docs) must read back as the
    // same config: a documented default the validator refuses (probes.btf
    // "" once) is a config a user cannot copy.
    for (const char *text : {"{}", R"({"mesh": {"manage": false, "hardifs": ["eth0"]},
                                       "probes": {"btf": "/boot/vmlinux.btf"}})"}) {
        ConfigResult r = parse(text);
        REQUIRE(r.ok());
        // spiffe shows what is unset as null or "" (SPIFFE off); the rest
        // shows values a config may hold.
        nlohmann::json shown = configToJson(*r.config);
        shown.erase("spiffe");
        ConfigResult again = parse(shown.dump());
        std::string errors;
        for (const auto &e : again.errors)
            errors += e.describe() + "; ";
        INFO(errors);
        REQUIRE(again.ok());
        CHECK(again.config->probes == r.config->probes);
        CHECK(again.config->mesh == r.config->mesh);
    }
}
