// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <sstream>

#include "render.h"

using namespace meshctl;
using nlohmann::json;

namespace {

std::vector<std::string> lines(const std::string &s)
{
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);)
        out.push_back(l);
    return out;
}

} // namespace

TEST_CASE("tables pad columns to the widest cell", "[render]")
{
    std::vector<Column> cols = {
        {"Name", [](const json &r) { return r["name"].get<std::string>(); }},
        {"N", [](const json &r) { return r["n"].dump(); }, true},
        {"Tail", [](const json &r) { return r["t"].get<std::string>(); }},
    };
    json rows = {{{"name", "a"}, {"n", 1}, {"t", "x"}}, {{"name", "longer"}, {"n", 100}, {"t", "y"}}};
    auto l = lines(renderTable(cols, rows));
    REQUIRE(l.size() == 3);
    CHECK(l[0] == "Name      N  Tail");
    CHECK(l[1] == "a         1  x");
    CHECK(l[2] == "longer  100  y");
}

TEST_CASE("originator table marks the best next hop and shows nulls as dashes", "[render]")
{
    json rows = json::parse(R"([
      {"originator": "02:00:00:00:00:02", "neighbor": "02:00:00:00:00:02", "hardif": "eth0",
       "tq": 255, "throughput_kbps": null, "last_seen_ms": 120, "best": true},
      {"originator": "02:00:00:00:00:02", "neighbor": "02:00:00:00:00:03", "hardif": "eth1",
       "tq": 200, "throughput_kbps": null, "last_seen_ms": 1500, "best": false}])");
    auto l = lines(renderResult("originators", rows));
    REQUIRE(l.size() == 3);
    CHECK(l[0].find("Originator") != std::string::npos);
    CHECK(l[1].rfind("*", 0) == 0);
    CHECK(l[2].rfind(" ", 0) == 0);
    CHECK(l[1].find("0.120s") != std::string::npos);
    CHECK(l[1].find("255") != std::string::npos);
    CHECK(l[1].find(" - ") != std::string::npos);
    CHECK(renderResult("originators", json::array()) == "(no originators)\n");
}

TEST_CASE("scalars and units", "[render]")
{
    CHECK(formatScalar(nullptr) == "-");
    CHECK(formatScalar(true) == "yes");
    CHECK(formatScalar("s") == "s");
    CHECK(formatScalar(12) == "12");
    CHECK(formatThroughput(json(850)) == "850 kbit/s");
    CHECK(formatThroughput(json(54000)) == "54.0 Mbit/s");
    CHECK(formatThroughput(json(2500000)) == "2.5 Gbit/s");
    CHECK(formatThroughput(nullptr) == "-");
    CHECK(formatDuration(59) == "59s");
    CHECK(formatDuration(3725) == "1h 2m 5s");
    CHECK(formatDuration(90061) == "1d 1h 1m");
}

TEST_CASE("generic arrays and objects render without losing fields", "[render]")
{
    json rows = {{{"hardif", "eth0"}, {"active", true}}, {{"hardif", "eth1"}, {"mac", "x"}}};
    auto l = lines(renderResult("interfaces", rows));
    REQUIRE(l.size() == 3);
    CHECK(l[0].find("active") != std::string::npos);
    CHECK(l[0].find("mac") != std::string::npos);
    CHECK(l[2].find("-") != std::string::npos);
    CHECK(renderResult("gateways", json::array()) == "(no entries)\n");

    std::string obj = renderObject({{"a", {{"b", 1}}}, {"list", {1, 2}}});
    CHECK(obj == "a:\n  b: 1\nlist: 1, 2\n");
}

TEST_CASE("status and version read as sentences", "[render]")
{
    json status = json::parse(R"({"version": "0.1.0", "pid": 7, "uptime_seconds": 65,
      "mesh": {"interface": "bat0", "algorithm": "BATMAN_V", "manage": false,
               "state": "unavailable", "reason": "no module"},
      "hardifs": [], "probes": {"state": "disabled"},
      "control": {"socket": "/s", "clients": 1, "max_clients": 256, "monitors": 0},
      "metrics": {"state": "ok", "listen": "127.0.0.1:9474"}})");
    std::string out = renderResult("status", status);
    CHECK_THAT(out, Catch::Contains("up 1m 5s"));
    CHECK_THAT(out, Catch::Contains("bat0 BATMAN_V observed: unavailable (no module)"));
    CHECK_THAT(out, Catch::Contains("http://127.0.0.1:9474/metrics"));
    CHECK(renderResult("version", {{"version", "1"}, {"batman_adv_version", "2022.3"},
                                   {"algorithm", "BATMAN_IV"}}) ==
          "meshd 1\nbatman-adv 2022.3 (BATMAN_IV)\n");
}

TEST_CASE("events render on one line", "[render]")
{
    std::string e = renderEvent({{"event", "config_reloaded"}, {"time", 0}, {"applied", {"x"}}});
    CHECK(e.find('\n') == e.size() - 1);
    CHECK_THAT(e, Catch::Contains("config_reloaded applied=[\"x\"]"));
}

TEST_CASE("topology renders links and nodes as tables", "[render]")
{
    json t = json::parse(R"({"links": [{"source": "02:00:00:00:00:01", "target": "02:00:00:00:00:02",
        "hardif": "eth0", "tq": 200, "throughput_kbps": null}],
      "nodes": [{"id": "02:00:00:00:00:01", "self": true},
                {"id": "02:00:00:00:00:02", "self": false, "next_hop": "02:00:00:00:00:02"}]})");
    std::string out = renderResult("topology", t);
    CHECK_THAT(out, Catch::Contains("Links of this node:"));
    CHECK_THAT(out, Catch::Contains("eth0"));
    auto l = lines(out);
    REQUIRE(l.size() == 8);
    CHECK(l[6].rfind("*  02:00:00:00:00:01", 0) == 0);
    CHECK(l[7].find("02:00:00:00:00:02  02:00:00:00:00:02") != std::string::npos);
}

TEST_CASE("links and probes render as tables", "[render]")
{
    json links = json::parse(R"([
        {"hardif": "l-n2", "neighbor": "02:00:00:00:00:02", "rx_packets": 1234, "rx_bytes": 2500000,
         "tx_packets": 12, "tx_bytes": 900, "loss_ratio": 0.125, "seq_received": 7, "seq_lost": 1},
        {"hardif": "l-n2", "neighbor": "ff:ff:ff:ff:ff:ff", "rx_packets": 0, "rx_bytes": 0,
         "tx_packets": 40, "tx_bytes": 4000, "loss_ratio": null}])");
    std::string out = renderResult("links", links);
    CHECK_THAT(out, Catch::Contains("Neighbor"));
    CHECK_THAT(out, Catch::Contains("1.2 kpkt"));
    CHECK_THAT(out, Catch::Contains("2.5 MB"));
    CHECK_THAT(out, Catch::Contains("12.5%"));
    CHECK_THAT(out, Catch::Contains("1/7"));
    CHECK(renderResult("links", json::array()).find("no neighbours") != std::string::npos);

    json probes = json::parse(R"J([
        {"probe": "link", "tier": "A", "loaded": true, "attached": ["l-n2", "l-n3"]},
        {"probe": "drops", "tier": "B", "loaded": false, "reason": "no BTF"},
        {"probe": "tcp_retransmits", "tier": "B", "loaded": true, "event_arguments": "sk, skb",
         "retransmits": {"l-n2": 3, "(no route)": 1}}])J");
    out = renderResult("probes", probes);
    CHECK_THAT(out, Catch::Contains("l-n2, l-n3"));
    CHECK_THAT(out, Catch::Contains("no BTF"));
    CHECK_THAT(out, Catch::Contains("tcp:tcp_retransmit_skb (sk, skb), 4 retransmissions"));
}

TEST_CASE("peers show their tunnel once the tunnel is enabled", "[render]")
{
    json plain = json::parse(R"([{"endpoint": "198.18.1.2:7946", "direction": "outbound",
      "state": "up", "spiffe_id": "spiffe://t/b", "node": "b", "version": "0.1.0", "since": 0,
      "messages_in": 3, "messages_out": 4, "handshakes_ok": 1, "handshakes_failed": 0,
      "last_error": null}])");
    CHECK(renderResult("peers", plain).find("Tunnel") == std::string::npos);
    json rows = plain;
    rows[0]["tunnel"] = json::parse(R"({"state": "up", "cipher": "aes-256-gcm",
      "endpoint": "198.18.1.2:7947", "rekeys": 3, "rx_packets": 10, "tx_packets": 12})");
    std::string out = renderResult("peers", rows);
    CHECK_THAT(out, Catch::Contains("up aes-256-gcm"));
    CHECK_THAT(out, Catch::Contains("198.18.1.2:7947"));
    CHECK_THAT(out, Catch::Contains("10/12"));
    rows.push_back(plain[0]);
    rows[1]["tunnel"] = nullptr; // a peer without a session
    CHECK(lines(renderResult("peers", rows)).size() == 3);

    json status = json::parse(R"({"version": "0.1.0", "pid": 7, "uptime_seconds": 1,
      "tunnel": {"state": "ok", "interface": "mesh-vpn", "listen": "0.0.0.0:7947",
                 "io": "packet-ring", "workers": 2, "mtu": 1406, "up": 1, "sessions": 1}})");
    CHECK_THAT(renderResult("status", status),
               Catch::Contains("mesh-vpn, UDP 0.0.0.0:7947, packet-ring I/O, 2 workers, MTU 1406, "
                               "1 of 1 sessions up"));
}
