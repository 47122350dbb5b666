// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unistd.h>

#include "config.h"
#include "settings.h"
#include "uci.h"

using namespace meshd;
using nlohmann::json;

namespace {

const std::string sock = "/run/meshd/meshd.sock";

ConfigResult uci(const std::string &text) { return parseUciConfig(text, sock); }

// The single error of a UCI config expected to have exactly one.
ConfigError onlyError(const std::string &text)
{
    ConfigResult r = uci(text);
    INFO(text);
    for (const auto &e : r.errors)
        UNSCOPED_INFO(e.describe());
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.errors.size() == 1);
    return r.errors[0];
}

// The parser's error for a text it must reject.
ConfigError parseError(const std::string &text)
{
    auto parsed = parseUci(text);
    INFO(text);
    REQUIRE(std::holds_alternative<ConfigError>(parsed));
    return std::get<ConfigError>(parsed);
}

UciPackage parsed(const std::string &text)
{
    auto p = parseUci(text);
    INFO(text);
    if (auto *e = std::get_if<ConfigError>(&p))
        FAIL(e->describe());
    return std::get<UciPackage>(p);
}

std::vector<std::string> values(const UciSection &s, const std::string &name)
{
    std::vector<std::string> out;
    if (const UciOption *o = s.find(name))
        for (const auto &v : o->values)
            out.push_back(v.text);
    return out;
}

std::string slurp(const std::filesystem::path &path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A file of the source tree. __FILE__ is relative to the build directory
// (the parent of the test binary's) or absolute; failing both, the tests
// run from the source tree's top.
std::filesystem::path sourceFile(const std::string &relative)
{
    namespace fs = std::filesystem;
    fs::path here = fs::path(__FILE__).parent_path();
    std::vector<fs::path> bases;
    if (here.is_absolute()) {
        bases.push_back(here);
    } else {
        std::error_code ec;
        fs::path exe = fs::read_symlink("/proc/self/exe", ec);
        if (!ec)
            bases.push_back(exe.parent_path().parent_path() / here);
        bases.push_back(fs::current_path() / here);
    }
    bases.push_back(fs::current_path() / "tests/unit/config");
    for (const auto &base : bases)
        if (fs::exists(base / relative))
            return base / relative;
    FAIL("cannot find " << relative << " next to " << __FILE__);
    return {};
}

// A file under a temporary name without an extension, like /etc/config/meshd.
class TempFile {
public:
    explicit TempFile(const std::string &text)
    {
        char name[] = "/tmp/meshd-uci-XXXXXX";
        int fd = mkstemp(name);
        REQUIRE(fd >= 0);
        REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        close(fd);
        path_ = name;
    }
    ~TempFile() { unlink(path_.c_str()); }
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

} // namespace

TEST_CASE("UCI text: statements, quotes, escapes, comments", "[uci]")
{
    UciPackage p = parsed("# a comment\n"
                          "package meshd\n"
                          "\n"
                          "config mesh 'bat0'   # after a statement\n"
                          "\toption algorithm BATMAN_V\n"
                          "\toption 'manage' \"0\"\n"
                          "\tlist hardif 'eth1'\n"
                          "\tlist hardif \"eth2\"\n"
                          "\tlist hardif eth3#a comment ends an unquoted word\n"
                          "\toption single 'a\\b \"c\" #d'\n"
                          "\toption double \"a\\\\b \\\"c\\\" 'd' #e\"\n"
                          "\toption bare a\\ b\\'c\n"
                          "\toption parts 'a'\"b\"c\n"
                          "\toption empty ''\n"
                          "\toption multi 'one\ntwo'\n"
                          "\toption joined con\\\ntinued\n"
                          "\toption later \\\n 'value'\n"
                          "config control; option mode '0600'; option group 'wheel'\r\n"
                          "c log ''\n"
                          "\to level debug\n"
                          "\tl x 1\n");
    REQUIRE(p.sections.size() == 3);
    const UciSection &mesh = p.sections[0];
    CHECK(mesh.type == "mesh");
    CHECK(mesh.name == "bat0");
    CHECK(mesh.line == 4);
    CHECK(mesh.path() == "meshd.bat0");
    CHECK(values(mesh, "algorithm") == std::vector<std::string>{"BATMAN_V"});
    CHECK(values(mesh, "manage") == std::vector<std::string>{"0"});
    CHECK(values(mesh, "hardif") == std::vector<std::string>{"eth1", "eth2", "eth3"});
    CHECK(mesh.find("hardif")->list);
    CHECK_FALSE(mesh.find("manage")->list);
    CHECK(values(mesh, "single") == std::vector<std::string>{"a\\b \"c\" #d"});
    CHECK(values(mesh, "double") == std::vector<std::string>{"a\\b \"c\" 'd' #e"});
    CHECK(values(mesh, "bare") == std::vector<std::string>{"a b'c"});
    CHECK(values(mesh, "parts") == std::vector<std::string>{"abc"});
    CHECK(values(mesh, "empty") == std::vector<std::string>{""});
    CHECK(values(mesh, "multi") == std::vector<std::string>{"one\ntwo"});
    CHECK(values(mesh, "joined") == std::vector<std::string>{"continued"});
    CHECK(values(mesh, "later") == std::vector<std::string>{"value"});
    // Line and column of each value, as errors name them.
    const UciOption *hardif = mesh.find("hardif");
    CHECK(hardif->line == 7);
    CHECK(hardif->values[1].line == 8);
    CHECK(hardif->values[1].column == 14);
    CHECK(mesh.find("joined")->line == 17);
    CHECK(mesh.find("later")->values[0].line == 20);

    const UciSection &control = p.sections[1];
    CHECK(control.path() == "meshd.@control[0]");
    CHECK(values(control, "mode") == std::vector<std::string>{"0600"});
    CHECK(values(control, "group") == std::vector<std::string>{"wheel"});
    // '' names no section; uci's one-letter commands.
    const UciSection &log = p.sections[2];
    CHECK(log.name.empty());
    CHECK(log.path() == "meshd.@log[0]");
    CHECK(values(log, "level") == std::vector<std::string>{"debug"});
    CHECK(log.find("x")->list);

    // Anonymous sections count among every section of their type.
    UciPackage two = parsed("config hardif 'eth1'\nconfig hardif\n");
    CHECK(two.sections[1].path() == "meshd.@hardif[1]");
    CHECK(parsed("").sections.empty());
    CHECK(parsed("# nothing\n\n   \n").sections.empty());
}

TEST_CASE("UCI syntax errors name line and column", "[uci]")
{
    auto syntax = [](const std::string &text, const std::string &where,
                     const std::string &what) {
        ConfigError e = parseError(text);
        INFO(text);
        CHECK(e.kind == ConfigErrorKind::Syntax);
        CHECK(e.path.empty());
        CHECK_THAT(e.message, Catch::StartsWith(where + ": "));
        CHECK_THAT(e.message, Catch::Contains(what));
    };
    syntax("config mesh\n\topton manage 0\n", "line 2 column 2", "invalid command \"opton\"");
    syntax("'config' mesh\n", "line 1 column 1", "invalid command");
    syntax("option manage 0\n", "line 1 column 1", "option before the first config section");
    syntax("\n  list hardif eth0\n", "line 2 column 3", "list before the first config section");
    syntax("config\n", "line 1 column 1", "config needs a section type");
    syntax("config ''\n", "line 1 column 1", "config needs a section type");
    syntax("config 'me sh'\n", "line 1 column 8", "invalid section type \"me sh\"");
    syntax("config mesh 'bat-0'\n", "line 1 column 13", "invalid section name \"bat-0\"");
    syntax("config mesh\n option 'hop-penalty' 1\n", "line 2 column 9",
           "invalid option name \"hop-penalty\"");
    syntax("config mesh\n\toption\n", "line 2 column 2", "option needs a name and a value");
    syntax("config mesh\n\toption manage\n", "line 2 column 15", "option manage needs a value");
    syntax("config mesh\n\tlist hardif # none\n", "line 2 column 14", "list hardif needs a value");
    syntax("config mesh\n\toption manage 0 1\n", "line 2 column 18", "too many arguments");
    syntax("config mesh bat0 extra\n", "line 1 column 18", "too many arguments");
    syntax("package meshd again\n", "line 1 column 15", "too many arguments");
    syntax("config mesh\n\toption manage '0\n", "line 2 column 16", "unterminated '");
    syntax("config mesh\n\toption manage \"0\n\n\n", "line 2 column 16", "unterminated \"");
    syntax("config mesh\n\toption manage \"0\\\"\n", "line 2 column 16", "unterminated \"");
    syntax("package\n", "line 1 column 1", "package needs a name");
    syntax("package 'me shd'\n", "line 1 column 9", "invalid package name");
    syntax("package network\n", "line 1 column 9", "package \"network\" is not meshd's config");
    syntax("config mesh\npackage meshd\n", "line 2 column 1", "package must come once");
    syntax("package meshd\npackage meshd\n", "line 2 column 1", "package must come once");
    syntax("config mesh 'a'\nconfig control 'a'\n", "line 2 column 1",
           "would overwrite the mesh section of that name at line 1");
    static const char nul[] = "config mesh\n\toption x 'a\0b'\n";
    syntax(std::string(nul, sizeof(nul) - 1), "line 2 column 13", "a NUL byte");
    syntax("config mesh\n\toption x '\xff'\n", "line 2 column 11", "not valid UTF-8");
    syntax("config mesh\n\toption x '\xc0\xaf'\n", "line 2 column 11", "not valid UTF-8");
    syntax("config mesh\n\toption x '\xed\xa0\x80'\n", "line 2 column 11", "not valid UTF-8");
    // Messages quote the file's bytes escaped, so they stay valid UTF-8.
    ConfigError bad = parseError("\xff\xfe mesh\n");
    CHECK_THAT(bad.message, Catch::Contains("\\xff\\xfe"));
    CHECK_NOTHROW(json(bad.message).dump());
    // A syntax error stops everything; the validator never runs.
    ConfigResult r = uci("config mesh\n\toption manage maybe\n\topton x\n");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].kind == ConfigErrorKind::Syntax);
}

TEST_CASE("UCI bounds: sections, options, lists, values, names, size", "[uci][hostile]")
{
    auto bound = [](const std::string &text, const std::string &what) {
        ConfigError e = parseError(text);
        CHECK(e.kind == ConfigErrorKind::Syntax);
        CHECK_THAT(e.message, Catch::Contains(what));
    };
    std::string sections;
    for (std::size_t i = 0; i < uciMaxSections; i++)
        sections += "config peer\n";
    CHECK(std::holds_alternative<UciPackage>(parseUci(sections)));
    bound(sections + "config peer\n", "line 1025 column 1: more than 1024 sections");

    std::string options = "config mesh\n";
    for (std::size_t i = 0; i < uciMaxOptionsPerSection; i++)
        options += "option o" + std::to_string(i) + " 1\n";
    CHECK(std::holds_alternative<UciPackage>(parseUci(options)));
    bound(options + "option last 1\n", "more than 256 options in one section");

    std::string list = "config spiffe\n";
    for (std::size_t i = 0; i < uciMaxListValues; i++)
        list += "list peer 'x'\n";
    CHECK(std::holds_alternative<UciPackage>(parseUci(list)));
    bound(list + "list peer 'x'\n", "list peer has more than 1024 values");

    std::string many;
    for (std::size_t i = 0; i <= uciMaxValues / 1000; i++) {
        many += "config peer\n";
        for (std::size_t k = 0; k < 1000; k++)
            many += "list x 1\n";
    }
    bound(many, "more than 16384 option and list values");

    std::string longest(uciMaxValueBytes, 'v');
    CHECK(
        std::holds_alternative<UciPackage>(parseUci("config mesh\noption x '" + longest + "'\n")));
    bound("config mesh\noption x '" + longest + "v'\n",
          "line 2 column 10: a value longer than 4096 bytes");
    bound("config mesh\noption x " + longest + "v\n", "a value longer than 4096 bytes");
    bound("config mesh\noption x \"" + longest + "v\"\n", "a value longer than 4096 bytes");
    // An unclosed quote stops at the bound, not at the end of a large file.
    bound("config mesh\noption x '" + std::string(1 << 20, 'v'), "a value longer than 4096 bytes");

    std::string name(uciMaxNameBytes, 'n');
    CHECK(std::holds_alternative<UciPackage>(
        parseUci("config " + name + " " + name + "\noption " + name + " 1\n")));
    bound("config " + name + "n\n", "invalid section type");
    bound("config mesh " + name + "n\n", "invalid section name");
    bound("config mesh\noption " + name + "n 1\n", "invalid option name");

    CHECK(parseError(std::string(uciMaxFileBytes + 1, '#')).message ==
          "the config is larger than 16 MiB");
    // loadConfigFile's own limit applies to either syntax.
    TempFile big("config mesh\n" + std::string(16 * 1024 * 1024, '#'));
    ConfigResult r = loadConfigFile(big.path(), sock);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].kind == ConfigErrorKind::Io);
}

TEST_CASE("UCI duplicates: an option or a named section twice", "[uci]")
{
    ConfigError e = onlyError("config mesh 'bat0'\n\toption manage 1\n\toption manage 0\n");
    CHECK(e.kind == ConfigErrorKind::DuplicateKey);
    CHECK(e.path == "meshd.bat0.manage");
    CHECK(e.message == "option appears twice in the same section (line 3; first at line 2)");
    CHECK(onlyError("config mesh\n\toption hardif eth0\n\tlist hardif eth1\n").path ==
          "meshd.@mesh[0].hardif");
    CHECK(onlyError("config mesh\n\tlist hardif eth0\n\toption hardif eth1\n").kind ==
          ConfigErrorKind::DuplicateKey);
    ConfigError s = onlyError("config mesh 'bat0'\nconfig mesh 'bat0'\n");
    CHECK(s.kind == ConfigErrorKind::DuplicateKey);
    CHECK(s.path == "meshd.bat0");
    CHECK_THAT(s.message, Catch::Contains("first at line 1"));
    // A list takes any number of values; the same option in two sections is fine.
    CHECK(uci("config mesh\n\tlist hardif eth0\n\tlist hardif eth1\n").ok());
    CHECK(uci("config metrics\n\toption enabled 1\nconfig probes\n\toption enabled 1\n").ok());
}

TEST_CASE("the syntax is told by the content, JSON stays as it is", "[uci]")
{
    CHECK(looksLikeUci("config mesh\n"));
    CHECK(looksLikeUci("package meshd\nconfig mesh\n"));
    CHECK(looksLikeUci("# /etc/config/meshd\n\n  \tconfig\tmesh 'bat0'\n"));
    CHECK(looksLikeUci("config"));
    CHECK(looksLikeUci("# only comments: every default\n"));
    CHECK_FALSE(looksLikeUci(""));
    CHECK_FALSE(looksLikeUci("\n \n"));
    CHECK_FALSE(looksLikeUci("{\"mesh\": {}}"));
    CHECK_FALSE(looksLikeUci("\n  {}\n"));
    CHECK_FALSE(looksLikeUci("configure mesh\n"));
    CHECK_FALSE(looksLikeUci("\"config\"\n"));

    TempFile u("config mesh\n\toption manage 0\n");
    ConfigResult r = loadConfigFile(u.path(), sock);
    REQUIRE(r.ok());
    CHECK_FALSE(r.config->mesh.manage);

    TempFile j("{\"mesh\": {\"manage\": false}}");
    ConfigResult jr = loadConfigFile(j.path(), sock);
    REQUIRE(jr.ok());
    CHECK(*jr.config == *r.config);

    // A broken JSON file is still judged as JSON.
    TempFile broken("{\"mesh\": {\"manage\": tru}}");
    ConfigResult br = loadConfigFile(broken.path(), sock);
    REQUIRE(br.errors.size() == 1);
    CHECK_THAT(br.errors[0].message, Catch::StartsWith("not valid JSON at line 1"));
    TempFile empty("");
    CHECK_THAT(loadConfigFile(empty.path(), sock).errors.at(0).message,
               Catch::StartsWith("not valid JSON"));
    // Only comments: UCI with every default.
    TempFile comments("# config mesh\n");
    ConfigResult cr = loadConfigFile(comments.path(), sock);
    REQUIRE(cr.ok());
    CHECK(*cr.config == *parseConfig("{}", sock).config);
}

TEST_CASE("UCI values become the validator's types", "[uci]")
{
    for (std::string yes : {"1", "yes", "on", "true", "enabled"}) {
        ConfigResult r = uci("config mesh\n\toption teardown_on_exit " + yes + "\n");
        REQUIRE(r.ok());
        CHECK(r.config->mesh.teardownOnExit);
    }
    for (std::string no : {"0", "no", "off", "false", "disabled"}) {
        ConfigResult r = uci("config mesh\n\toption manage '" + no + "'\n");
        REQUIRE(r.ok());
        CHECK_FALSE(r.config->mesh.manage);
    }
    ConfigResult n = uci("config mesh\n\toption poll_interval_ms '0250'\n"
                         "\toption hop_penalty 7\n\toption gw_mode client\n"
                         "config control\n\toption mode '0600'\n\toption max_clients 9\n"
                         "config spiffe\n\toption agent_uid 1000\n");
    REQUIRE(n.ok());
    CHECK(n.config->mesh.pollIntervalMs == 250);
    CHECK(n.config->mesh.settings["hop_penalty"] == 7);
    CHECK(n.config->mesh.settings["gw_mode"] == "client");
    CHECK(n.config->control.mode == 0600);
    CHECK(n.config->control.maxClients == 9);
    CHECK(n.config->spiffe.agentUid == 1000u);
    ConfigResult any = uci("config spiffe\n\toption agent_uid any\n");
    REQUIRE(any.ok());
    CHECK(any.config->spiffe.anyAgentUid);

    // What does not convert: the validator's own type error, the UCI name,
    // what UCI takes, the line.
    ConfigError b = onlyError("config mesh 'bat0'\n\toption manage 'maybe'\n");
    CHECK(b.kind == ConfigErrorKind::Type);
    CHECK(b.path == "meshd.bat0.manage");
    CHECK(b.message == "expected a boolean (true or false), got a string (\"maybe\" is not a UCI "
                       "boolean: 1/0, yes/no, on/off, true/false or enabled/disabled) (line 2)");
    ConfigError i = onlyError("config mesh\n\toption hop_penalty '3x'\n");
    CHECK(i.kind == ConfigErrorKind::Type);
    CHECK(i.path == "meshd.@mesh[0].hop_penalty");
    CHECK(i.message ==
          "expected an integer, got a string (\"3x\" is not a decimal integer) (line 2)");
    CHECK_THAT(onlyError("config control\n\toption max_clients 99999999999999999999\n").message,
               Catch::Contains("too large for a 64-bit integer"));
    CHECK(onlyError("config control\n\toption max_clients ' 9'\n").kind == ConfigErrorKind::Type);
    // Numbers the validator judges as it judges JSON's.
    ConfigError neg = onlyError("config mesh\n\toption hop_penalty -1\n");
    CHECK(neg.kind == ConfigErrorKind::Range);
    CHECK(neg.message == "-1 is out of range 0..255 (line 2)");
    CHECK(onlyError("config mesh\n\toption hop_penalty 256\n").message ==
          "256 is out of range 0..255 (line 2)");
    CHECK(onlyError("config spiffe\n\toption agent_uid root\n").message ==
          "must be a uid (0..4294967294) or \"any\" (line 2)");
    // A list where one value belongs, and an option where a list does.
    ConfigError l = onlyError("config log\n\tlist level debug\n");
    CHECK(l.kind == ConfigErrorKind::Type);
    CHECK(l.path == "meshd.@log[0].level");
    CHECK_THAT(l.message, Catch::Contains("got an array (given with list; use option)"));
    ConfigResult one = uci("config mesh\n\toption hardif eth1\n");
    REQUIRE(one.ok());
    CHECK(one.config->mesh.hardifs.at(0).name == "eth1");
}

TEST_CASE("UCI: unknown section types and options are unknown_key errors", "[uci]")
{
    ConfigError t = onlyError("config meshh 'x'\n");
    CHECK(t.kind == ConfigErrorKind::UnknownKey);
    CHECK(t.path == "meshd.x");
    CHECK(t.message == "unknown section type \"meshh\" (known types: control, hardif, log, mesh, "
                       "metrics, peer, probes, spiffe, tunnel) (line 1)");
    ConfigError o = onlyError("config control\n\toption sockett /x\n");
    CHECK(o.kind == ConfigErrorKind::UnknownKey);
    CHECK(o.path == "meshd.@control[0].sockett");
    CHECK(o.message == "unknown option (known options here: admin_group, group, max_clients, mode, "
                       "socket, write_timeout_ms) (line 2)");
    // JSON's names that UCI spells differently are unknown here.
    CHECK(onlyError("config spiffe\n\toption peers 198.18.0.2:7946\n").path ==
          "meshd.@spiffe[0].peers");
    CHECK(onlyError("config spiffe\n\toption authorize x\n").kind == ConfigErrorKind::UnknownKey);
    CHECK(onlyError("config spiffe\n\toption trust_domain td\nconfig peer\n"
                    "\toption address 198.18.0.2:1\n\toption adress x\n")
              .path == "meshd.@peer[0].adress");
    for (const char *type : {"metrics", "probes", "tunnel", "log"})
        CHECK(onlyError(std::string("config ") + type + "\n\toption bogus 1\n").kind ==
              ConfigErrorKind::UnknownKey);

    // A mesh's other options are batman-adv settings, judged by the
    // validator; the message names the mesh section's options too.
    ConfigError m = onlyError("config mesh 'bat0'\n\toption hop_penaltyy 3\n");
    CHECK(m.kind == ConfigErrorKind::UnknownKey);
    CHECK(m.path == "meshd.bat0.hop_penaltyy");
    CHECK_THAT(m.message, Catch::StartsWith("unknown option (known options here: aggregated_ogms, "
                                            "algorithm, ap_isolation,"));
    CHECK_THAT(m.message, Catch::Contains(" hardif, hop_penalty, interface,"));
    CHECK_THAT(m.message, Catch::EndsWith(" teardown_on_exit) (line 2)"));
    // netifd's batadv spelling, without the unit.
    CHECK_THAT(onlyError("config mesh\n\toption orig_interval 1000\n").message,
               Catch::Contains("did you mean orig_interval_ms?"));
    CHECK_THAT(onlyError("config mesh\n\toption routing_algo BATMAN_V\n").message,
               Catch::Contains("did you mean algorithm?"));
    // A mesh-only setting is unknown on a hardif.
    ConfigError h = onlyError("config hardif 'eth1'\n\toption gw_mode off\n");
    CHECK(h.kind == ConfigErrorKind::UnknownKey);
    CHECK(h.path == "meshd.eth1.gw_mode");
    CHECK(h.message == "unknown option (known options here: elp_interval_ms, hop_penalty, mesh, "
                       "name, throughput_override_kbps) (line 2)");
    CHECK_THAT(onlyError("config hardif eth1\n\toption elp_interval 100\n").message,
               Catch::Contains("did you mean elp_interval_ms?"));
}

TEST_CASE("UCI: validator errors are named by UCI paths and lines", "[uci]")
{
    auto one = [](const std::string &text, const std::string &path, const std::string &message) {
        ConfigError e = onlyError(text);
        CHECK(e.path == path);
        CHECK(e.message == message);
        return e;
    };
    // Named and anonymous sections.
    one("config mesh 'bat0'\n\toption poll_interval_ms 50\n", "meshd.bat0.poll_interval_ms",
        "50 is out of range 100..3600000 (line 2)");
    one("config mesh\n\n\toption poll_interval_ms 50\n", "meshd.@mesh[0].poll_interval_ms",
        "50 is out of range 100..3600000 (line 3)");
    one("config metrics 'prom'\n\toption listen localhost:9474\n", "meshd.prom.listen",
        "\"localhost:9474\" is not an address:port (127.0.0.1:9474 or [::1]:9474) (line 2)");
    // The interface from the section's name.
    one("config mesh 'mesh_interface_x'\n", "meshd.mesh_interface_x",
        "\"mesh_interface_x\" is not a valid interface name (1-15 bytes, no '/', ':' or spaces) "
        "(the section's name, as there is no option interface) (line 1)");
    // Hard interfaces: list lines, hardif sections, their names and settings.
    one("config mesh\n\tlist hardif eth0\n\tlist hardif eth0\n", "meshd.@mesh[0].hardif",
        "\"eth0\" is listed twice (line 3)");
    one("config mesh 'bat0'\n\tlist hardif eth0\nconfig hardif 'eth0'\n", "meshd.eth0",
        "\"eth0\" is listed twice (the section's name, as there is no option name) (line 3)");
    one("config mesh\nconfig hardif\n\toption name 'a/b'\n", "meshd.@hardif[0].name",
        "\"a/b\" is not a valid interface name (1-15 bytes, no '/', ':' or spaces) (line 3)");
    one("config mesh\nconfig hardif\n\toption hop_penalty 1\n", "meshd.@hardif[0].name",
        "missing: every hardif object needs a name (name the section (config hardif 'eth1') or "
        "give option name) (line 2)");
    one("config hardif 'eth1'\n\toption hop_penalty 256\n", "meshd.eth1.hop_penalty",
        "256 is out of range 0..255 (line 2)");
    one("config hardif 'eth1'\n\toption mesh bat1\n", "meshd.eth1.mesh",
        "no mesh section has interface \"bat1\" (mesh interfaces here: bat0) (line 2)");
    one("config mesh\nconfig hardif 'eth1'\n\tlist mesh bat0\n", "meshd.eth1.mesh",
        "one mesh, given with option (line 3)");
    // The authorizer: the later of two forms, an ID by its list line.
    one("config spiffe\n\toption trust_domain td\n\tlist authorize_id spiffe://td/a\n"
        "\toption authorize_member_of td\n",
        "meshd.@spiffe[0].authorize_member_of",
        "give either authorize_id or authorize_member_of, not both (line 4)");
    one("config spiffe\n\toption trust_domain td\n\tlist authorize_id spiffe://td/a\n"
        "\tlist authorize_id spiffe://td\n",
        "meshd.@spiffe[0].authorize_id",
        "spiffe://td has no path, and no SVID carries a root ID (use authorize_member_of to allow "
        "a whole trust domain) (line 4)");
    // Peers: list lines and sections.
    one("config spiffe\n\toption trust_domain td\n\tlist peer 198.18.0.2:1\n"
        "\tlist peer 198.18.0.2:1\n",
        "meshd.@spiffe[0].peer", "\"198.18.0.2:1\" is listed twice (line 4)");
    one("config spiffe\n\toption trust_domain td\nconfig peer 'r3'\n\toption address x\n",
        "meshd.r3.address",
        "\"x\" is not an IP:port (198.18.0.2:7946 or [fd00::2]:7946) (line 4)");
    one("config spiffe\n\toption trust_domain td\nconfig peer\n\toption id spiffe://td/a\n",
        "meshd.@peer[0]", "needs an \"address\" (IP:port) (line 3)");
    // A missing option: the path where it belongs, no line; other keys in
    // the message by their UCI names.
    one("config peer\n\toption address 198.18.0.2:1\n", "meshd.@spiffe[0].trust_domain",
        "is required for meshd.@spiffe[0].listen and meshd.@spiffe[0].peer (mTLS needs an "
        "identity)");
    one("config mesh 'bat0'\n\tlist hardif mesh-vpn\nconfig spiffe 'id'\n"
        "\toption trust_domain td\nconfig tunnel\n\toption enabled 1\n",
        "meshd.@tunnel[0].interface",
        "\"mesh-vpn\" is also in meshd.bat0.hardif: the tunnel attaches its interface itself "
        "(meshd.@tunnel[0].attach)");
    one("config spiffe 'id'\n\toption trust_domain td\n\toption endpoint tcp://198.18.0.9:1\n",
        "meshd.id.endpoint",
        "tcp://198.18.0.9:1 is not on this host (tcp:// must be 127.0.0.0/8 or ::1): the Workload "
        "API hands out private keys in clear text; set meshd.id.allow_remote_endpoint to true to "
        "use it anyway (line 3)");
    // One section of each of meshd's own.
    one("config log\nconfig log\n", "meshd.@log[1]",
        "a second log section (the first is at line 1); there is one of each (line 2)");
    ConfigResult two = uci("config mesh 'a'\nconfig mesh 'b'\nconfig hardif 'eth1'\n");
    REQUIRE(two.errors.size() == 2); // the second: one mesh only (see below)
    CHECK(two.errors[1].path == "meshd.eth1.mesh");
    CHECK(two.errors[1].message ==
          "missing: with 2 mesh sections, a hardif names its mesh's interface (line 3)");

    // Every error, in file order; a missing option's last.
    ConfigResult r = uci("config peer\n\toption address 198.18.0.2:1\n"
                         "config mesh\n\toption manage maybe\n\toption bogus 1\n"
                         "config bogus\nconfig tunnel\n\toption enabled 1\n");
    REQUIRE(r.errors.size() == 5);
    CHECK(r.errors[0].path == "meshd.@mesh[0].manage");
    CHECK(r.errors[1].path == "meshd.@mesh[0].bogus");
    CHECK(r.errors[2].path == "meshd.@bogus[0]");
    CHECK(r.errors[3].path == "meshd.@tunnel[0].enabled");
    CHECK_THAT(r.errors[3].message, Catch::Contains("needs meshd.@spiffe[0].trust_domain"));
    CHECK(r.errors[4].path == "meshd.@spiffe[0].trust_domain");
}

TEST_CASE("UCI paths of JSON paths", "[uci]")
{
    UciPackage p = parsed("config mesh 'bat0'\n\toption hop_penalty 3\n\tlist hardif eth1\n"
                          "config spiffe\n");
    UciTree t = uciToJson(p);
    CHECK(t.uciPath("mesh.settings.hop_penalty") == "meshd.bat0.hop_penalty");
    CHECK(t.uciPath("mesh.settings.orig_interval_ms") == "meshd.bat0.orig_interval_ms");
    CHECK(t.uciPath("mesh.hardifs[0]") == "meshd.bat0.hardif");
    CHECK(t.uciPath("mesh.hardifs") == "meshd.bat0.hardif");
    CHECK(t.uciPath("spiffe.trust_domain") == "meshd.@spiffe[0].trust_domain");
    CHECK(t.uciPath("spiffe.peers") == "meshd.@spiffe[0].peer");
    CHECK(t.uciPath("control.mode") == "meshd.@control[0].mode");
    CHECK(t.uciPath("") == "");
    // Sections the file lacks have uci's name of the first such section.
    UciTree none = uciToJson(parsed("config spiffe 'id'\n"));
    CHECK(none.uciPath("mesh.settings.hop_penalty") == "meshd.@mesh[0].hop_penalty");
    CHECK(none.uciPath("mesh.hardifs[2].name") == "meshd.@mesh[0].hardif[2].name");
    CHECK(none.uciPath("tunnel.attach") == "meshd.@tunnel[0].attach");
    CHECK(none.uciPath("spiffe.peers[1]") == "meshd.id.peer[1]");
    CHECK(t.origins.at("mesh.settings.hop_penalty").line == 2);
    CHECK(t.origins.at("mesh.hardifs[0]").line == 3);
    CHECK(t.tree == json::parse(R"({"mesh": {"interface": "bat0", "hardifs": ["eth1"],
        "settings": {"hop_penalty": 3}}, "spiffe": {}})"));
}

TEST_CASE("a loaded config names its keys as its file does", "[uci]")
{
    // meshd --check's kernel checks speak of the file's keys.
    ConfigResult u = uci("config mesh 'bat0'\n\toption manage '1'\n\tlist hardif eth1\n");
    REQUIRE(u.ok());
    CHECK(u.name("mesh.manage") == "meshd.bat0.manage");
    CHECK(u.name("mesh.algorithm") == "meshd.bat0.algorithm");
    ConfigResult j = parseConfig(R"({"mesh": {"manage": true, "hardifs": ["eth1"]}})", sock);
    REQUIRE(j.ok());
    CHECK(j.name("mesh.manage") == "mesh.manage");
}

TEST_CASE("JSON and UCI forms of a config give equal Configs", "[uci]")
{
    ConfigResult j = parseConfig(slurp(sourceFile("uci/full.json")), sock);
    ConfigResult u = uci(slurp(sourceFile("uci/full.uci")));
    for (const auto &e : j.errors)
        UNSCOPED_INFO("json: " << e.describe());
    for (const auto &e : u.errors)
        UNSCOPED_INFO("uci: " << e.describe());
    REQUIRE(j.ok());
    REQUIRE(u.ok());
    CHECK(configToJson(*u.config) == configToJson(*j.config));
    CHECK(*u.config == *j.config);
    // Not the defaults: the twins set every key.
    Config defaults = *parseConfig("{}", sock).config;
    json a = configToJson(defaults), b = configToJson(*j.config);
    for (auto section = a.begin(); section != a.end(); ++section)
        for (auto key = section->begin(); key != section->end(); ++key) {
            INFO(section.key() + "." + key.key());
            CHECK(b[section.key()][key.key()] != key.value());
        }

    auto twins = [](const std::string &jsonText, const std::string &uciText) {
        INFO(jsonText);
        INFO(uciText);
        ConfigResult jr = parseConfig(jsonText, sock);
        ConfigResult ur = uci(uciText);
        REQUIRE(jr.ok());
        REQUIRE(ur.ok());
        CHECK(*ur.config == *jr.config);
    };
    twins("{}", "");
    twins("{}", "config mesh\nconfig control\nconfig log\n");
    twins(R"({"mesh": {"hardifs": ["eth1"]}})", "config mesh\n\tlist hardif eth1\n");
    twins(R"({"mesh": {"hardifs": ["eth1"]}})", "config hardif 'eth1'\n");
    twins(R"({"mesh": {"interface": "bat1", "hardifs": [{"name": "eth1",
          "settings": {"hop_penalty": 5}}]}})",
          "config mesh bat1\nconfig hardif eth1\n\toption mesh bat1\n\toption hop_penalty 5\n");
    twins(R"({"mesh": {"manage": false}, "control": {"socket": "/tmp/meshd/meshd.sock"},
          "metrics": {"listen": "127.0.0.1:9474"}})",
          "config mesh\n\toption manage 0\nconfig control\n\toption socket /tmp/meshd/meshd.sock\n"
          "config metrics\n\toption listen 127.0.0.1:9474\n");
    twins(R"({"spiffe": {"trust_domain": "td", "authorize": {"member_of": "td"},
          "peers": ["198.18.0.2:1"]}})",
          "config spiffe\n\toption trust_domain td\n\toption authorize_member_of td\n"
          "\tlist peer 198.18.0.2:1\n");
}

TEST_CASE("several mesh sections make the mesh list", "[uci]")
{
    const std::string text = "config mesh 'bat0'\n\tlist hardif eth1\n"
                             "config mesh 'bat1'\n\toption algorithm BATMAN_V\n"
                             "\toption hop_penalty 20\n"
                             "config hardif 'wlan0'\n\toption mesh bat1\n\toption hop_penalty 5\n"
                             "config hardif 'eth2'\n\toption mesh bat0\n";
    const json list = json::parse(R"({"mesh": [
        {"interface": "bat0", "hardifs": ["eth1", {"name": "eth2"}]},
        {"interface": "bat1", "algorithm": "BATMAN_V", "settings": {"hop_penalty": 20},
         "hardifs": [{"name": "wlan0", "settings": {"hop_penalty": 5}}]}]})");
    UciTree t = uciToJson(parsed(text));
    CHECK(t.errors.empty());
    CHECK(t.tree == list);
    CHECK(t.uciPath("mesh[1].settings.hop_penalty") == "meshd.bat1.hop_penalty");
    CHECK(t.uciPath("mesh[1].hardifs[0].settings.hop_penalty") == "meshd.wlan0.hop_penalty");
    CHECK(t.uciPath("mesh[0].hardifs[1].name") == "meshd.eth2");
    CHECK(t.uciPath("mesh[0].hardifs[0]") == "meshd.bat0.hardif");

    // One validator: the JSON list and its UCI twin get the same verdict,
    // named by the second mesh section.
    ConfigResult j = parseConfig(list.dump(), sock);
    ConfigResult u = uci(text);
    REQUIRE(j.errors.size() == 1);
    REQUIRE(u.errors.size() == 1);
    CHECK(u.errors[0].kind == j.errors[0].kind);
    CHECK(j.errors[0].path == "mesh");
    CHECK(u.errors[0].path == "meshd.bat1");
    CHECK(u.errors[0].message ==
          j.errors[0].message + " (2 mesh sections; this meshd runs one mesh) (line 3)");
    CHECK(u.ok() == j.ok());
}

TEST_CASE("the shipped /etc/config/meshd is valid and shows every option", "[uci]")
{
    std::string text = slurp(sourceFile("../../../packaging/openwrt/meshd/files/meshd.config"));
    REQUIRE(looksLikeUci(text));
    ConfigResult r = uci(text);
    for (const auto &e : r.errors)
        UNSCOPED_INFO(e.describe());
    REQUIRE(r.ok());
    // Observe mode (netifd's batadv proto makes bat0), else the defaults.
    Config expected = *parseConfig(R"({"mesh": {"manage": false}})", sock).config;
    CHECK(*r.config == expected);

    // Every option, commented out or not.
    std::set<std::string> present;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string keyword, name;
        words >> keyword >> name;
        if (keyword == "#option" || keyword == "option" || keyword == "#list" || keyword == "list")
            present.insert(name);
    }
    for (const auto &type : uciSectionTypes())
        for (const auto &name : uciOptionNames(type)) {
            INFO(type << " " << name);
            CHECK(present.count(name));
        }
    for (const auto &spec : batman::settingSpecs()) {
        INFO(spec.name);
        CHECK(present.count(std::string(spec.name)));
    }

    // Uncommented, every shown value is valid (one of the authorizer's two
    // forms at a time).
    std::string all;
    std::istringstream again(text);
    for (std::string line; std::getline(again, line);) {
        std::size_t at = line.find_first_not_of(" \t");
        if (at != std::string::npos && line.compare(at, 1, "#") == 0) {
            std::string rest = line.substr(at + 1);
            if (rest.rfind("option ", 0) == 0 || rest.rfind("list ", 0) == 0 ||
                rest.rfind("config ", 0) == 0)
                line = line.substr(0, at) + rest;
        }
        if (line.find("authorize_member_of") == std::string::npos)
            all += line + "\n";
    }
    ConfigResult u = uci(all);
    for (const auto &e : u.errors)
        UNSCOPED_INFO(e.describe());
    CHECK(u.ok());
}

TEST_CASE("the UCI options cover every key of the JSON config", "[uci]")
{
    // JSON keys that UCI spells otherwise.
    const std::map<std::string, std::set<std::string>> renamed = {
        {"mesh.hardifs", {"mesh.hardif", "hardif"}},
        {"mesh.settings", {}},
        {"spiffe.authorize", {"spiffe.authorize_id", "spiffe.authorize_member_of"}},
        {"spiffe.peers", {"spiffe.peer", "peer"}},
    };
    std::set<std::string> fromJson, fromUci;
    json keys = configToJson(Config{});
    for (auto section = keys.begin(); section != keys.end(); ++section)
        for (auto key = section->begin(); key != section->end(); ++key) {
            std::string path = section.key() + "." + key.key();
            if (auto it = renamed.find(path); it != renamed.end())
                fromJson.insert(it->second.begin(), it->second.end());
            else
                fromJson.insert(path);
        }
    for (const auto &type : uciSectionTypes()) {
        if (type == "hardif" || type == "peer") {
            fromUci.insert(type); // a section of its own, the object form
            continue;
        }
        for (const auto &name : uciOptionNames(type))
            fromUci.insert(type + "." + name);
    }
    CHECK(fromUci == fromJson);
    CHECK(uciOptionNames("hardif") == std::vector<std::string>{"name", "mesh"});
    CHECK(uciOptionNames("peer") == std::vector<std::string>{"address", "id"});
    CHECK(uciOptionNames("bogus").empty());
}
