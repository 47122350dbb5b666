// SPDX-License-Identifier: GPL-2.0-or-later
#include "cli.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>

namespace meshctl {

using nlohmann::json;

const std::vector<CommandSpec> &commandSpecs()
{
    static const std::vector<CommandSpec> specs = {
        {"version", "", "show meshd's and batman-adv's versions", ""},
        {"status", "", "show daemon and feature health",
         "Shows the mesh interface, hard interfaces, probes, identity, tunnel,\n"
         "control socket and metrics state, and the daemon's uptime."},
        {"originators", "", "show the originator table (like batctl oj)",
         "One row per (originator, neighbour); '*' marks the best next hop.\n"
         "TQ is shown under BATMAN_IV, throughput under BATMAN_V."},
        {"neighbors", "", "show the neighbour table (like batctl nj)", ""},
        {"interfaces", "", "show the mesh's hard interfaces", ""},
        {"gateways", "", "show the gateway table", ""},
        {"translations", "[local|global]", "show a translation table (default: local)", ""},
        {"claims", "", "show bridge loop avoidance claims", ""},
        {"backbones", "", "show bridge loop avoidance backbone gateways", ""},
        {"dat", "", "show the distributed ARP table cache", ""},
        {"mesh", "", "show the mesh interface's settings", ""},
        {"multicast", "", "show the multicast flags each originator announces", ""},
        {"set", "[--hardif IF | --vlan VID] SETTING=VALUE...",
         "change mesh, hard interface or VLAN settings",
         "Applies the settings over netlink and prints the values the kernel\n"
         "reports back (it may clamp or ignore some).\n"
         "Values: true/false (or on/off), integers, or words such as gw_mode=server.\n"
         "With --vlan only ap_isolation can be set (the VLAN must exist on the\n"
         "mesh interface, e.g. bat0.5).\n"
         "Example: meshctl set hop_penalty=30 orig_interval_ms=1000"},
        {"topology", "", "show the mesh topology as nodes and links", ""},
        {"tp", "ORIGINATOR [--time SECONDS | --cancel]",
         "run batman-adv's throughput meter to an originator",
         "Default test time: 10 seconds. --cancel stops a running test to ORIGINATOR."},
        {"links", "", "show per-neighbour link quality measured by the probes", ""},
        {"probes", "", "show which eBPF probes are loaded and why others are not", ""},
        {"identity", "", "show the node's SPIFFE identity (X.509-SVID) and Workload API state",
         "The SVID meshd got from the SPIRE agent, when it expires, the trust\n"
         "bundles it holds, and whether the Workload API is connected."},
        {"peers", "", "show the peer channel: mTLS connections to other meshd nodes",
         "One row per configured peer (spiffe.peers) and per inbound connection:\n"
         "state, the SPIFFE ID the peer proved, its node name and meshd version."},
        {"monitor", "", "stream events until interrupted",
         "Prints one event per line; with --json, one JSON object per line."},
        {"reload", "", "make meshd re-read its config file (like SIGHUP)", ""},
        {"commands", "", "list the commands the daemon knows", ""},
    };
    return specs;
}

const CommandSpec *findCommand(const std::string &name)
{
    for (const auto &s : commandSpecs())
        if (s.name == name)
            return &s;
    return nullptr;
}

std::string generalHelp()
{
    std::string h =
        "Usage: meshctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n"
        "\n"
        "Queries and controls a running meshd over its control socket.\n"
        "\n"
        "Options:\n"
        "  -s, --socket PATH      control socket (default: $MESHD_SOCKET, else the\n"
        "                         daemon's default)\n"
        "  -j, --json             print the reply's result as JSON\n"
        "  -t, --timeout SECONDS  give up after this long without a reply, or\n"
        "                         without more of one (default 5)\n"
        "  -h, --help             show this help; COMMAND --help shows a command's\n"
        "  -V, --version          show meshctl's version\n"
        "\n"
        "Commands:\n";
    for (const auto &s : commandSpecs()) {
        std::string left = "  " + s.name + (s.usage.empty() ? "" : " " + s.usage);
        if (left.size() < 36)
            left.resize(36, ' ');
        else
            left += "\n" + std::string(36, ' ');
        h += left + s.summary + "\n";
    }
    h += "\nExit status: 0 ok, 1 the daemon replied with an error, 2 usage error,\n"
         "3 cannot connect or timed out. See meshctl(8).\n";
    return h;
}

std::string commandHelp(const CommandSpec &spec)
{
    std::string h = "Usage: meshctl [OPTIONS] " + spec.name +
                    (spec.usage.empty() ? "" : " " + spec.usage) + "\n\n" + spec.summary + ".\n";
    if (!spec.details.empty())
        h += "\n" + spec.details + "\n";
    return h;
}

std::optional<std::string> normaliseMac(const std::string &text)
{
    if (text.size() != 17)
        return std::nullopt;
    std::string out = text;
    for (std::size_t i = 0; i < out.size(); i++) {
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
        if (i % 3 == 2) {
            if (c != ':' && c != '-')
                return std::nullopt;
            c = ':';
        } else if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return std::nullopt;
        }
        out[i] = c;
    }
    return out;
}

namespace {

json settingValue(const std::string &v)
{
    if (v == "true" || v == "on" || v == "yes")
        return true;
    if (v == "false" || v == "off" || v == "no")
        return false;
    if (!v.empty() && v.size() <= 20 &&
        v.find_first_not_of("0123456789") == std::string::npos) {
        errno = 0;
        unsigned long long n = strtoull(v.c_str(), nullptr, 10);
        if (errno == 0)
            return n;
    }
    return v;
}

bool parseSeconds(const std::string &text, double *out)
{
    if (text.empty())
        return false;
    char *end = nullptr;
    errno = 0;
    double v = strtod(text.c_str(), &end);
    if (errno || !end || *end || !(v > 0) || v > 86400)
        return false;
    *out = v;
    return true;
}

// Parses a command's own arguments into the request's args.
std::string parseCommandArgs(const CommandSpec &spec, const std::vector<std::string> &rest,
                             json &args)
{
    if (spec.name == "translations") {
        if (rest.size() > 1)
            return "translations takes at most one argument (local or global)";
        std::string table = rest.empty() ? "local" : rest[0];
        if (table != "local" && table != "global")
            return "translations: unknown table \"" + table + "\" (local or global)";
        args["table"] = table;
        return {};
    }
    if (spec.name == "set") {
        for (std::size_t i = 0; i < rest.size(); i++) {
            const std::string &a = rest[i];
            if (a == "--hardif" || a == "-i") {
                if (i + 1 >= rest.size())
                    return "set: --hardif needs an interface name";
                args["hardif"] = rest[++i];
                continue;
            }
            if (a.rfind("--hardif=", 0) == 0) {
                args["hardif"] = a.substr(9);
                continue;
            }
            if (a == "--vlan") {
                if (i + 1 >= rest.size())
                    return "set: --vlan needs a VLAN id";
                json vid = settingValue(rest[++i]);
                if (!vid.is_number_unsigned() || vid.get<std::uint64_t>() > 4095)
                    return "set: --vlan needs a VLAN id 0..4095";
                args["vlan"] = vid;
                continue;
            }
            auto eq = a.find('=');
            if (eq == std::string::npos || eq == 0)
                return "set: expected SETTING=VALUE, got \"" + a + "\"";
            std::string key = a.substr(0, eq);
            if (key == "hardif")
                return "set: use --hardif IF to name a hard interface";
            if (args.contains(key))
                return "set: " + key + " given twice";
            args[key] = settingValue(a.substr(eq + 1));
        }
        if (args.contains("hardif") && args.contains("vlan"))
            return "set: --hardif and --vlan cannot be combined";
        std::size_t settings =
            args.size() - (args.contains("hardif") ? 1 : 0) - (args.contains("vlan") ? 1 : 0);
        if (settings == 0)
            return "set: nothing to set (SETTING=VALUE...)";
        return {};
    }
    if (spec.name == "tp") {
        std::optional<std::string> mac;
        for (std::size_t i = 0; i < rest.size(); i++) {
            const std::string &a = rest[i];
            if (a == "--cancel") {
                args["cancel"] = true;
            } else if (a == "--time" || a == "-T") {
                double secs;
                if (i + 1 >= rest.size() || !parseSeconds(rest[i + 1], &secs))
                    return "tp: --time needs a number of seconds";
                args["time_ms"] = static_cast<std::uint64_t>(secs * 1000);
                i++;
            } else if (!mac) {
                mac = normaliseMac(a);
                if (!mac)
                    return "tp: \"" + a + "\" is not a MAC address (aa:bb:cc:dd:ee:ff)";
            } else {
                return "tp: unexpected argument \"" + a + "\"";
            }
        }
        if (!mac)
            return "tp: which originator? (meshctl tp aa:bb:cc:dd:ee:ff)";
        args["originator"] = *mac;
        return {};
    }
    if (!rest.empty())
        return spec.name + " takes no arguments (got \"" + rest[0] + "\")";
    return {};
}

} // namespace

ParseResult parseCommandLine(const std::vector<std::string> &argv, const std::string &envSocket,
                             const std::string &defaultSocket)
{
    Invocation inv;
    inv.socket = envSocket.empty() ? defaultSocket : envSocket;
    std::size_t i = 1;
    auto fail = [](std::string msg) { return ParseResult{std::nullopt, std::move(msg)}; };

    for (; i < argv.size(); i++) {
        std::string a = argv[i];
        if (a.empty() || a[0] != '-')
            break;
        std::string value;
        bool inlineValue = false;
        if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = a.substr(eq + 1);
            a = a.substr(0, eq);
            inlineValue = true;
        }
        auto takeValue = [&]() -> bool {
            if (inlineValue)
                return true;
            if (i + 1 >= argv.size())
                return false;
            value = argv[++i];
            return true;
        };
        if (a == "-h" || a == "--help") {
            inv.help = generalHelp();
            return {inv, {}};
        } else if (a == "-V" || a == "--version") {
            inv.help = "version";
            return {inv, {}};
        } else if (a == "-j" || a == "--json") {
            inv.json = true;
        } else if (a == "-s" || a == "--socket") {
            if (!takeValue() || value.empty())
                return fail("--socket needs a path");
            inv.socket = value;
        } else if (a == "-t" || a == "--timeout") {
            if (!takeValue())
                return fail("--timeout needs a number of seconds");
            if (!parseSeconds(value, &inv.timeoutSeconds))
                return fail("--timeout: \"" + value + "\" is not a positive number of seconds");
        } else if (a == "--") {
            i++;
            break;
        } else {
            return fail("unknown option \"" + argv[i] + "\"");
        }
    }
    if (i >= argv.size())
        return fail("no command given");

    std::string name = argv[i++];
    std::vector<std::string> rest(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
    if (name == "help") {
        if (rest.empty()) {
            inv.help = generalHelp();
            return {inv, {}};
        }
        const CommandSpec *spec = findCommand(rest[0]);
        if (!spec)
            return fail("unknown command \"" + rest[0] + "\"");
        inv.help = commandHelp(*spec);
        return {inv, {}};
    }
    const CommandSpec *spec = findCommand(name);
    if (!spec)
        return fail("unknown command \"" + name + "\" (meshctl --help lists them)");
    for (const auto &r : rest)
        if (r == "--help" || r == "-h") {
            inv.help = commandHelp(*spec);
            return {inv, {}};
        }
    // --json is also accepted after the command.
    std::vector<std::string> own;
    for (std::size_t k = 0; k < rest.size(); k++) {
        if (rest[k] == "--json" || rest[k] == "-j")
            inv.json = true;
        else
            own.push_back(rest[k]);
    }
    inv.command = name;
    if (std::string err = parseCommandArgs(*spec, own, inv.args); !err.empty())
        return fail(err);
    return {inv, {}};
}

} // namespace meshctl
