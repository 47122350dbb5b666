// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "cli.h"

using namespace meshctl;

namespace {

ParseResult parse(std::vector<std::string> args, std::string env = "")
{
    args.insert(args.begin(), "meshctl");
    return parseCommandLine(args, env, "/run/meshd/meshd.sock");
}

Invocation ok(std::vector<std::string> args, std::string env = "")
{
    ParseResult r = parse(std::move(args), std::move(env));
    INFO(r.error);
    REQUIRE(r.invocation.has_value());
    return *r.invocation;
}

std::string usageError(std::vector<std::string> args)
{
    ParseResult r = parse(std::move(args));
    REQUIRE_FALSE(r.invocation.has_value());
    REQUIRE_FALSE(r.error.empty());
    return r.error;
}

} // namespace

TEST_CASE("socket comes from --socket, then $MESHD_SOCKET, then the default", "[cli]")
{
    CHECK(ok({"status"}).socket == "/run/meshd/meshd.sock");
    CHECK(ok({"status"}, "/tmp/env.sock").socket == "/tmp/env.sock");
    CHECK(ok({"--socket", "/tmp/a.sock", "status"}, "/tmp/env.sock").socket == "/tmp/a.sock");
    CHECK(ok({"--socket=/tmp/b.sock", "status"}).socket == "/tmp/b.sock");
    CHECK(ok({"-s", "/tmp/c.sock", "status"}).socket == "/tmp/c.sock");
}

TEST_CASE("global options", "[cli]")
{
    Invocation i = ok({"--json", "--timeout", "2.5", "originators"});
    CHECK(i.json);
    CHECK(i.timeoutSeconds == Approx(2.5));
    CHECK(i.command == "originators");
    CHECK(ok({"originators", "--json"}).json);
    CHECK(ok({"version"}).timeoutSeconds == Approx(5.0));
    usageError({"--timeout", "0", "status"});
    usageError({"--timeout", "abc", "status"});
    usageError({"--timeout"});
    usageError({"--bogus", "status"});
    usageError({});
    usageError({"--json"});
}

TEST_CASE("commands and their arguments", "[cli]")
{
    CHECK_THAT(usageError({"frobnicate"}), Catch::Contains("unknown command"));
    CHECK_THAT(usageError({"status", "extra"}), Catch::Contains("takes no arguments"));

    CHECK(ok({"translations"}).args["table"] == "local");
    CHECK(ok({"translations", "global"}).args["table"] == "global");
    usageError({"translations", "both"});

    Invocation set = ok({"set", "hop_penalty=30", "bonding=on", "gw_mode=server"});
    CHECK(set.args["hop_penalty"] == 30);
    CHECK(set.args["bonding"] == true);
    CHECK(set.args["gw_mode"] == "server");
    CHECK_FALSE(set.args.contains("hardif"));
    Invocation hset = ok({"set", "--hardif", "eth1", "hop_penalty=5"});
    CHECK(hset.args["hardif"] == "eth1");
    usageError({"set"});
    usageError({"set", "--hardif", "eth1"});
    usageError({"set", "hop_penalty"});
    usageError({"set", "=3"});
    usageError({"set", "a=1", "a=2"});

    Invocation vset = ok({"set", "--vlan", "5", "ap_isolation=on"});
    CHECK(vset.args["vlan"] == 5);
    CHECK(vset.args["ap_isolation"] == true);
    usageError({"set", "--vlan", "5000", "ap_isolation=on"});
    usageError({"set", "--vlan", "5", "--hardif", "eth0", "ap_isolation=on"});
    CHECK(ok({"tp", "aa:bb:cc:dd:ee:01", "--cancel"}).args["cancel"] == true);

    Invocation tp = ok({"tp", "AA:bb:CC:dd:ee:01", "--time", "3"});
    CHECK(tp.args["originator"] == "aa:bb:cc:dd:ee:01");
    CHECK(tp.args["time_ms"] == 3000);
    usageError({"tp"});
    usageError({"tp", "aa:bb:cc:dd:ee"});
    usageError({"tp", "aa:bb:cc:dd:ee:ff", "--time", "-1"});
}

TEST_CASE("help is available for every command", "[cli]")
{
    CHECK(ok({"--help"}).help.has_value());
    CHECK(ok({"help"}).help.has_value());
    for (const auto &spec : commandSpecs()) {
        Invocation i = ok({spec.name, "--help"});
        REQUIRE(i.help.has_value());
        CHECK_THAT(*i.help, Catch::Contains("meshctl [OPTIONS] " + spec.name));
        CHECK_THAT(generalHelp(), Catch::Contains(spec.name));
    }
    CHECK_THAT(*ok({"help", "set"}).help, Catch::Contains("SETTING=VALUE"));
    usageError({"help", "nope"});
}

TEST_CASE("every command of the contract is known to meshctl", "[cli]")
{
    for (const char *name : {"version", "status", "originators", "neighbors", "interfaces",
                             "gateways", "translations", "claims", "backbones", "dat", "mesh",
                             "set", "topology", "links", "probes", "identity", "peers", "monitor"})
        CHECK(findCommand(name) != nullptr);
}

TEST_CASE("MAC addresses are normalised", "[cli]")
{
    CHECK(normaliseMac("AA-BB-CC-DD-EE-FF") == "aa:bb:cc:dd:ee:ff");
    CHECK_FALSE(normaliseMac("aa:bb:cc:dd:ee:fg"));
    CHECK_FALSE(normaliseMac("aabb:cc:dd:ee:ff:"));
}
