// SPDX-License-Identifier: GPL-2.0-or-later
#include "render.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace meshctl {

using nlohmann::json;

namespace {

std::string field(const json &row, const char *key)
{
    if (!row.is_object())
        return "-";
    auto it = row.find(key);
    return it == row.end() ? "-" : formatScalar(*it);
}

std::function<std::string(const json &)> key(const char *name)
{
    return [name](const json &row) { return field(row, name); };
}

std::size_t displayWidth(const std::string &s)
{
    // Count code points, not bytes, so UTF-8 names line up.
    std::size_t n = 0;
    for (unsigned char c : s)
        n += (c & 0xc0) != 0x80;
    return n;
}

std::string renderGenericArray(const json &rows)
{
    if (rows.empty())
        return "(no entries)\n";
    std::vector<std::string> keys;
    for (const auto &row : rows) {
        if (!row.is_object())
            return rows.dump(2) + "\n";
        for (auto it = row.begin(); it != row.end(); ++it)
            if (std::find(keys.begin(), keys.end(), it.key()) == keys.end())
                keys.push_back(it.key());
    }
    std::vector<Column> cols;
    for (const auto &k : keys)
        cols.push_back({k, [k](const json &row) {
                            auto it = row.find(k);
                            if (it == row.end())
                                return std::string("-");
                            return it->is_structured() ? it->dump() : formatScalar(*it);
                        }});
    return renderTable(cols, rows);
}

std::string renderOriginators(const json &rows)
{
    std::vector<Column> cols = {
        {" ", [](const json &r) { return r.value("best", false) ? std::string("*") : " "; }},
        {"Originator", key("originator")},
        {"Last seen", [](const json &r) { return formatMillis(r.value("last_seen_ms", json())); },
         true},
        {"TQ", key("tq"), true},
        {"Throughput",
         [](const json &r) { return formatThroughput(r.value("throughput_kbps", json())); },
         true},
        {"Neighbor", key("neighbor")},
        {"Hardif", key("hardif")},
    };
    return renderTable(cols, rows);
}

std::string renderNeighbors(const json &rows)
{
    std::vector<Column> cols = {
        {"Hardif", key("hardif")},
        {"Neighbor", key("neighbor")},
        {"Last seen", [](const json &r) { return formatMillis(r.value("last_seen_ms", json())); },
         true},
        {"Throughput",
         [](const json &r) { return formatThroughput(r.value("throughput_kbps", json())); },
         true},
    };
    return renderTable(cols, rows);
}

std::string formatCount(const json &v, const char *unit)
{
    if (!v.is_number())
        return "-";
    double n = v.get<double>();
    const char *prefixes[] = {"", "k", "M", "G", "T"};
    int i = 0;
    while (n >= 1000 && i < 4) {
        n /= 1000;
        i++;
    }
    char buf[32];
    std::snprintf(buf, sizeof(buf), i ? "%.1f %s%s" : "%.0f %s%s", n, prefixes[i], unit);
    return buf;
}

std::string renderLinks(const json &rows)
{
    std::vector<Column> cols = {
        {"Hardif", key("hardif")},
        {"Neighbor", key("neighbor")},
        {"Rx", [](const json &r) { return formatCount(r.value("rx_packets", json()), "pkt"); }, true},
        {"Rx bytes", [](const json &r) { return formatCount(r.value("rx_bytes", json()), "B"); },
         true},
        {"Tx", [](const json &r) { return formatCount(r.value("tx_packets", json()), "pkt"); }, true},
        {"Tx bytes", [](const json &r) { return formatCount(r.value("tx_bytes", json()), "B"); },
         true},
        {"Loss (60 s)",
         [](const json &r) {
             auto v = r.value("loss_ratio", json());
             if (!v.is_number())
                 return std::string("-");
             char buf[16];
             std::snprintf(buf, sizeof(buf), "%.1f%%", v.get<double>() * 100);
             return std::string(buf);
         },
         true},
        {"Seq lost/seen",
         [](const json &r) {
             if (!r.contains("seq_received"))
                 return std::string("-");
             return field(r, "seq_lost") + "/" + field(r, "seq_received");
         },
         true},
    };
    return renderTable(cols, rows);
}

std::string renderProbes(const json &rows)
{
    std::vector<Column> cols = {
        {"Probe", key("probe")},
        {"Tier", key("tier")},
        {"Loaded", [](const json &r) { return r.value("loaded", false) ? "yes" : "no"; }},
        {"Where / why not",
         [](const json &r) {
             if (!r.value("loaded", false))
                 return field(r, "reason");
             if (r.contains("attached") && r["attached"].is_array()) {
                 std::string where;
                 for (const auto &h : r["attached"])
                     where += (where.empty() ? "" : ", ") + formatScalar(h);
                 return where.empty() ? std::string("(no hard interfaces yet)") : where;
             }
             // Tracing probes: what they hooked, and how much they saw.
             std::string what = r.contains("event_arguments")
                                    ? "tcp:tcp_retransmit_skb (" + field(r, "event_arguments") + ")"
                                : r.contains("reasons_named")
                                    ? std::string("skb:kfree_skb") +
                                          (r.value("reasons_named", false) ? " (reasons named)"
                                                                           : " (no reasons)")
                                : r.value("probe", "") == "qdisc_sojourn"
                                    ? std::string("qdisc:qdisc_enqueue/qdisc_dequeue")
                                : r.contains("interfaces") ? std::string("rtnetlink")
                                                           : std::string("loaded");
             std::uint64_t total = 0;
             for (const char *k : {"retransmits", "drops"})
                 if (r.contains(k) && r[k].is_object())
                     for (const auto &[name, v] : r[k].items()) {
                         if (v.is_number())
                             total += v.get<std::uint64_t>();
                         else if (v.is_object())
                             for (const auto &[reason, n] : v.items())
                                 if (n.is_number())
                                     total += n.get<std::uint64_t>();
                     }
             if (r.contains("retransmits"))
                 what += ", " + std::to_string(total) + " retransmissions";
             if (r.contains("drops"))
                 what += ", " + std::to_string(total) + " drops";
             if (r.contains("interfaces") && r["interfaces"].is_object())
                 what += ", " + std::to_string(r["interfaces"].size()) + " interfaces";
             return what;
         }},
    };
    return renderTable(cols, rows);
}

std::string renderCommands(const json &rows)
{
    std::vector<Column> cols = {
        {"Command", key("name")},
        {"Available", key("available")},
        {"Access", key("access")},
        {"Summary",
         [](const json &r) {
             std::string s = field(r, "summary");
             if (r.contains("reason"))
                 s += " (" + field(r, "reason") + ")";
             return s;
         }},
    };
    return renderTable(cols, rows);
}

std::string renderTopology(const json &t)
{
    std::string out = "Links of this node:\n";
    out += t["links"].empty()
               ? "  (none)\n"
               : renderTable({{"Source", key("source")},
                              {"Target", key("target")},
                              {"Hardif", key("hardif")},
                              {"TQ", key("tq"), true},
                              {"Throughput",
                               [](const json &r) {
                                   return formatThroughput(r.value("throughput_kbps", json()));
                               },
                               true}},
                             t["links"]);
    out += "\nNodes:\n";
    out += renderTable({{" ", [](const json &r) { return r.value("self", false) ? "*" : " "; }},
                        {"Node", key("id")},
                        {"Next hop", key("next_hop")}},
                       t["nodes"]);
    return out;
}

std::string renderVersion(const json &v)
{
    std::string s = "meshd " + field(v, "version") + "\n";
    if (v.contains("batman_adv_version") && !v["batman_adv_version"].is_null())
        s += "batman-adv " + field(v, "batman_adv_version") + " (" + field(v, "algorithm") + ")\n";
    else
        s += "batman-adv not loaded (configured algorithm " + field(v, "algorithm") + ")\n";
    return s;
}

std::string featureLine(const json &f)
{
    std::string s = field(f, "state");
    if (f.is_object() && f.contains("reason"))
        s += " (" + field(f, "reason") + ")";
    return s;
}

// "in 52m" / "3h ago" from a Unix time, next to the absolute time.
std::string formatRelative(const json &unix)
{
    if (!unix.is_number())
        return "-";
    auto secs = static_cast<std::int64_t>(unix.get<double>() - static_cast<double>(std::time(nullptr)));
    return secs >= 0 ? "in " + formatDuration(secs) : formatDuration(-secs) + " ago";
}

std::string renderIdentity(const json &id)
{
    std::string out;
    auto line = [&](const std::string &k, const std::string &v) {
        std::string left = k + ":";
        left.resize(15, ' ');
        out += left + v + "\n";
    };
    line("SPIFFE ID", field(id, "spiffe_id"));
    line("state", field(id, "state"));
    if (id.contains("not_after") && !id["not_after"].is_null())
        line("valid until", field(id, "not_after") + " (" + formatRelative(id["not_after_unix"]) + ")");
    if (!field(id, "hint").empty() && field(id, "hint") != "-")
        line("hint", field(id, "hint"));
    line("SVIDs", field(id, "svids") + ", rotations " + field(id, "rotations"));
    std::string tds;
    for (const auto &td : id.value("trust_domains", json::array()))
        tds += (tds.empty() ? "" : ", ") + formatScalar(td);
    line("trust bundles", tds.empty() ? "-" : tds);
    line("authorizes", field(id, "authorize"));
    const json api = id.value("workload_api", json::object());
    std::string a = field(id, "endpoint") + " " + field(api, "state");
    if (api.contains("retry_in_s") && api["retry_in_s"].is_number()) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), ", retry in %.1fs", api["retry_in_s"].get<double>());
        a += buf;
    }
    line("Workload API", a);
    if (api.contains("last_error") && api["last_error"].is_object())
        line("last error", field(api["last_error"], "code") + ": " +
                               field(api["last_error"], "message"));
    return out;
}

std::string renderPeers(const json &rows)
{
    std::vector<Column> cols = {
        {"Endpoint", key("endpoint")},
        {"Dir", [](const json &r) { return field(r, "direction") == "inbound" ? "in" : "out"; }},
        {"State", key("state")},
        {"SPIFFE ID", key("spiffe_id")},
        {"Node", key("node")},
        {"Version", key("version")},
        {"Since", [](const json &r) { return formatRelative(r.value("since", json())); }},
        {"Msgs in/out",
         [](const json &r) { return field(r, "messages_in") + "/" + field(r, "messages_out"); },
         true},
        {"Handshakes ok/failed",
         [](const json &r) {
             return field(r, "handshakes_ok") + "/" + field(r, "handshakes_failed");
         },
         true},
        {"Last error", key("last_error")},
    };
    bool tunnels = false;
    for (const auto &r : rows)
        tunnels |= r.contains("tunnel");
    if (tunnels) {
        // Only when the tunnel is enabled: what it carries to each peer.
        auto t = [](const json &r) { return r.value("tunnel", json()); };
        cols.insert(cols.end() - 1,
                    {{"Tunnel",
                      [t](const json &r) {
                          json x = t(r);
                          return x.is_object() ? field(x, "state") + " " + field(x, "cipher")
                                               : std::string("-");
                      }},
                     {"UDP endpoint",
                      [t](const json &r) {
                          json x = t(r);
                          return x.is_object() ? field(x, "endpoint") : std::string("-");
                      }},
                     {"Rekeys",
                      [t](const json &r) {
                          json x = t(r);
                          return x.is_object() ? field(x, "rekeys") : std::string("-");
                      },
                      true},
                     {"Tunnel rx/tx pkts",
                      [t](const json &r) {
                          json x = t(r);
                          return x.is_object() ? field(x, "rx_packets") + "/" + field(x, "tx_packets")
                                               : std::string("-");
                      },
                      true}});
    }
    return renderTable(cols, rows);
}

std::string renderStatus(const json &s)
{
    std::string out;
    auto line = [&](const std::string &k, const std::string &v) {
        std::string left = k + ":";
        left.resize(12, ' ');
        out += left + v + "\n";
    };
    line("meshd", field(s, "version") + ", pid " + field(s, "pid") + ", up " +
                      formatDuration(s.value("uptime_seconds", std::int64_t{0})));
    if (s.contains("config"))
        line("config", field(s["config"], "file"));
    if (s.contains("mesh")) {
        const json &m = s["mesh"];
        line("mesh", field(m, "interface") + " " + field(m, "algorithm") +
                         (m.value("manage", false) ? " managed" : " observed") + ": " +
                         featureLine(m));
    }
    if (s.contains("hardifs") && s["hardifs"].is_array()) {
        std::string h;
        for (const auto &e : s["hardifs"])
            h += (h.empty() ? "" : ", ") + field(e, "hardif") + " (" + field(e, "state") + ")";
        line("hardifs", h.empty() ? "none configured" : h);
    }
    if (s.contains("probes"))
        line("probes", featureLine(s["probes"]));
    if (s.contains("identity")) {
        const json &i = s["identity"];
        line("identity", i.contains("spiffe_id") && !i["spiffe_id"].is_null()
                             ? field(i, "spiffe_id") + " until " + field(i, "not_after") + ", " +
                                   featureLine(i)
                             : featureLine(i));
    }
    if (s.contains("peers")) {
        const json &p = s["peers"];
        line("peers", p.contains("up") ? field(p, "up") + " of " + field(p, "configured") +
                                             " configured up, " + field(p, "inbound") +
                                             " inbound, listening on " + field(p, "listen")
                                       : featureLine(p));
    }
    if (s.contains("tunnel")) {
        const json &t = s["tunnel"];
        line("tunnel", t.value("state", "") == "ok"
                           ? field(t, "interface") + ", UDP " + field(t, "listen") + ", " +
                                 field(t, "io") + " I/O, " + field(t, "workers") + " workers, MTU " +
                                 field(t, "mtu") + ", " + field(t, "up") + " of " +
                                 field(t, "sessions") + " sessions up"
                           : featureLine(t));
    }
    if (s.contains("control")) {
        const json &c = s["control"];
        line("control", field(c, "socket") + ", " + field(c, "clients") + "/" +
                            field(c, "max_clients") + " clients, " + field(c, "monitors") +
                            " monitoring");
    }
    if (s.contains("metrics")) {
        const json &m = s["metrics"];
        line("metrics", m.value("state", "") == "ok" ? "http://" + field(m, "listen") + "/metrics"
                                                     : featureLine(m));
    }
    return out;
}

} // namespace

std::string formatScalar(const json &v)
{
    switch (v.type()) {
    case json::value_t::null:
        return "-";
    case json::value_t::boolean:
        return v.get<bool>() ? "yes" : "no";
    case json::value_t::string:
        return v.get<std::string>();
    case json::value_t::number_float: {
        char buf[32];
        snprintf(buf, sizeof(buf), "%.3g", v.get<double>());
        return buf;
    }
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
        return v.dump();
    default:
        return v.dump();
    }
}

std::string formatThroughput(const json &kbps)
{
    if (!kbps.is_number())
        return "-";
    double v = kbps.get<double>();
    char buf[32];
    if (v >= 1e6)
        snprintf(buf, sizeof(buf), "%.1f Gbit/s", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, sizeof(buf), "%.1f Mbit/s", v / 1e3);
    else
        snprintf(buf, sizeof(buf), "%.0f kbit/s", v);
    return buf;
}

std::string formatMillis(const json &ms)
{
    if (!ms.is_number())
        return "-";
    char buf[32];
    snprintf(buf, sizeof(buf), "%.3fs", ms.get<double>() / 1000.0);
    return buf;
}

std::string formatDuration(std::int64_t seconds)
{
    std::int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                 s = seconds % 60;
    char buf[64];
    if (d)
        snprintf(buf, sizeof(buf), "%lldd %lldh %lldm", static_cast<long long>(d),
                 static_cast<long long>(h), static_cast<long long>(m));
    else if (h)
        snprintf(buf, sizeof(buf), "%lldh %lldm %llds", static_cast<long long>(h),
                 static_cast<long long>(m), static_cast<long long>(s));
    else if (m)
        snprintf(buf, sizeof(buf), "%lldm %llds", static_cast<long long>(m),
                 static_cast<long long>(s));
    else
        snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
    return buf;
}

std::string renderTable(const std::vector<Column> &columns, const json &rows)
{
    std::vector<std::vector<std::string>> cells;
    std::vector<std::size_t> width;
    for (const auto &c : columns)
        width.push_back(displayWidth(c.header));
    for (const auto &row : rows) {
        std::vector<std::string> line;
        for (std::size_t i = 0; i < columns.size(); i++) {
            line.push_back(columns[i].cell(row));
            width[i] = std::max(width[i], displayWidth(line.back()));
        }
        cells.push_back(std::move(line));
    }
    auto emit = [&](const std::vector<std::string> &line) {
        std::string out;
        for (std::size_t i = 0; i < line.size(); i++) {
            std::string pad(width[i] - displayWidth(line[i]), ' ');
            bool last = i + 1 == line.size();
            if (columns[i].alignRight)
                out += pad + line[i];
            else
                out += line[i] + (last ? "" : pad);
            if (!last)
                out += "  ";
        }
        while (!out.empty() && out.back() == ' ')
            out.pop_back();
        return out + "\n";
    };
    std::vector<std::string> header;
    for (const auto &c : columns)
        header.push_back(c.header);
    std::string out = emit(header);
    for (const auto &line : cells)
        out += emit(line);
    return out;
}

std::string renderObject(const json &object, int indent)
{
    if (!object.is_object())
        return std::string(static_cast<std::size_t>(indent), ' ') + formatScalar(object) + "\n";
    std::string out;
    std::string pad(static_cast<std::size_t>(indent), ' ');
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (it->is_object() && !it->empty()) {
            out += pad + it.key() + ":\n" + renderObject(*it, indent + 2);
        } else if (it->is_array()) {
            bool flat = true;
            for (const auto &e : *it)
                flat = flat && !e.is_structured();
            if (flat) {
                std::string list;
                for (const auto &e : *it)
                    list += (list.empty() ? "" : ", ") + formatScalar(e);
                out += pad + it.key() + ": " + (list.empty() ? "(none)" : list) + "\n";
            } else {
                out += pad + it.key() + ":\n";
                for (const auto &e : *it)
                    out += renderObject(e, indent + 2) + (e.is_object() ? "\n" : "");
            }
        } else {
            out += pad + it.key() + ": " + (it->is_object() ? "{}" : formatScalar(*it)) + "\n";
        }
    }
    return out;
}

std::string renderResult(const std::string &command, const json &result)
{
    if (command == "version")
        return renderVersion(result);
    if (command == "status")
        return renderStatus(result);
    if (command == "topology" && result.is_object() && result.contains("links") &&
        result["links"].is_array() && result.contains("nodes") && result["nodes"].is_array())
        return renderTopology(result);
    if (command == "commands" && result.is_array())
        return renderCommands(result);
    if (command == "originators" && result.is_array())
        return result.empty() ? "(no originators)\n" : renderOriginators(result);
    if (command == "neighbors" && result.is_array())
        return result.empty() ? "(no neighbours)\n" : renderNeighbors(result);
    if (command == "links" && result.is_array())
        return result.empty() ? "(no neighbours seen by the link probe yet)\n" : renderLinks(result);
    if (command == "probes" && result.is_array())
        return renderProbes(result);
    if (command == "identity" && result.is_object())
        return renderIdentity(result);
    if (command == "peers" && result.is_array())
        return result.empty() ? "(no peers: none configured in spiffe.peers, none connected)\n"
                              : renderPeers(result);
    if (result.is_array())
        return renderGenericArray(result);
    if (result.is_object())
        return renderObject(result);
    return formatScalar(result) + "\n";
}

std::string renderEvent(const json &event)
{
    std::string out;
    if (event.contains("time") && event["time"].is_number()) {
        std::time_t t = static_cast<std::time_t>(event["time"].get<double>());
        struct tm tm;
        localtime_r(&t, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
        out = stamp;
    }
    out += std::string(out.empty() ? "" : " ") + field(event, "event");
    for (auto it = event.begin(); it != event.end(); ++it) {
        if (it.key() == "time" || it.key() == "event")
            continue;
        out += " " + it.key() + "=" + (it->is_structured() ? it->dump() : formatScalar(*it));
    }
    return out + "\n";
}

} // namespace meshctl
