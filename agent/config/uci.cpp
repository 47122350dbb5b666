// SPDX-License-Identifier: GPL-2.0-or-later
#include "uci.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>

#include "settings.h"

namespace meshd {

using nlohmann::json;

std::string UciSection::path() const
{
    return name.empty() ? "meshd.@" + type + "[" + std::to_string(index) + "]" : "meshd." + name;
}

const UciOption *UciSection::find(std::string_view optionName) const
{
    for (const auto &o : options)
        if (o.name == optionName)
            return &o;
    return nullptr;
}

namespace {

// uci's whitespace (isspace() without the newline, which ends a statement).
bool isBlank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Option and section names: letters, digits and '_'; package names also '-'.
bool isName(std::string_view s, bool package = false)
{
    if (s.empty())
        return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || (package && c == '-')))
            return false;
    return true;
}

// Section types: printable ASCII without spaces.
bool isType(std::string_view s)
{
    if (s.empty())
        return false;
    for (unsigned char c : s)
        if (c < 0x21 || c > 0x7e)
            return false;
    return true;
}

// A piece of the file quoted in a message: printable ASCII as it is, other
// bytes escaped, at most 64 bytes, so that messages stay valid UTF-8 for
// the JSON of replies and events.
std::string printable(std::string_view s)
{
    std::string out;
    for (std::size_t i = 0; i < s.size(); i++) {
        if (i == 64)
            return out + "...";
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            char hex[8];
            snprintf(hex, sizeof(hex), "\\x%02x", c);
            out += hex;
        }
    }
    return out;
}

// Whether `s` is UTF-8 as JSON's parser wants it: no overlong forms, no
// surrogates, nothing past U+10FFFF.
bool isUtf8(std::string_view s)
{
    static constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t length;
        std::uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            length = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            length = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            length = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (s.size() - i < length)
            return false;
        for (std::size_t k = 1; k < length; k++) {
            auto next = static_cast<unsigned char>(s[i + k]);
            if ((next & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (next & 0x3f);
        }
        if (cp < smallest[length] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += length;
    }
    return true;
}

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::variant<UciPackage, ConfigError> run()
    {
        if (text_.size() > uciMaxFileBytes)
            return ConfigError{ConfigErrorKind::Syntax, "", "the config is larger than 16 MiB"};
        if (std::size_t nul = text_.find('\0'); nul != std::string_view::npos) {
            while (pos_ < nul)
                advance();
            fail(line_, column(), "a NUL byte");
            return *error_;
        }
        while (statement()) {
        }
        if (error_)
            return *error_;
        return std::move(package_);
    }

private:
    struct Word {
        std::string text;
        unsigned line = 0;
        unsigned column = 0;
        bool present = false;
    };

    bool atEnd() const { return pos_ >= text_.size(); }
    char peek(std::size_t ahead = 0) const
    {
        return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0';
    }
    void advance()
    {
        if (text_[pos_] == '\n') {
            line_++;
            lineStart_ = pos_ + 1;
        }
        pos_++;
    }
    void skip(std::size_t n)
    {
        while (n-- > 0 && !atEnd())
            advance();
    }
    unsigned column() const { return static_cast<unsigned>(pos_ - lineStart_ + 1); }

    // A backslash at the end of a line joins it with the next, as in uci:
    // the length of that backslash and line end, or 0.
    std::size_t continuation() const
    {
        if (peek() != '\\')
            return 0;
        if (peek(1) == '\n')
            return 2;
        if (peek(1) == '\r' && peek(2) == '\n')
            return 3;
        return 0;
    }
    void skipBlanks()
    {
        for (;;) {
            if (!atEnd() && isBlank(peek()))
                advance();
            else if (std::size_t n = continuation())
                skip(n);
            else
                return;
        }
    }
    void skipComment()
    {
        while (!atEnd() && peek() != '\n')
            advance();
    }
    bool statementEnds() const
    {
        return atEnd() || peek() == '\n' || peek() == '#' || peek() == ';';
    }

    bool fail(unsigned line, unsigned column, const std::string &message)
    {
        error_ = ConfigError{ConfigErrorKind::Syntax, "",
                             "line " + std::to_string(line) + " column " + std::to_string(column) +
                                 ": " + message};
        return false;
    }
    bool tooLong(const Word &w)
    {
        return fail(w.line, w.column,
                    "a value longer than " + std::to_string(uciMaxValueBytes) + " bytes");
    }

    // One statement, up to and including its end; false at the end of the
    // input or on an error.
    bool statement()
    {
        skipBlanks();
        if (atEnd())
            return false;
        if (peek() == '\n' || peek() == ';') {
            advance();
            return true;
        }
        if (peek() == '#') {
            skipComment();
            return true;
        }
        unsigned line = line_, col = column();
        std::string keyword;
        while (!atEnd() && !isBlank(peek()) && peek() != '\n' && keyword.size() <= 64) {
            keyword += peek();
            advance();
        }
        bool ok;
        // uci also takes the first letter alone.
        if (keyword == "package" || keyword == "p")
            ok = package(line, col);
        else if (keyword == "config" || keyword == "c")
            ok = section(line, col);
        else if (keyword == "option" || keyword == "o")
            ok = option(false, line, col);
        else if (keyword == "list" || keyword == "l")
            ok = option(true, line, col);
        else
            ok = fail(line, col,
                      "invalid command \"" + printable(keyword) +
                          "\" (expected package, config, option or list)");
        return ok && endStatement();
    }

    bool endStatement()
    {
        Word extra;
        if (!read(extra))
            return false;
        if (extra.present)
            return fail(extra.line, extra.column,
                        "too many arguments (a value with spaces needs quotes)");
        if (!atEnd() && peek() == '#')
            skipComment();
        else if (!atEnd())
            advance(); // '\n' or ';'
        return true;
    }

    // The next argument of a statement; `present` is false at its end.
    bool read(Word &w)
    {
        skipBlanks();
        w = Word{};
        w.line = line_;
        w.column = column();
        if (statementEnds())
            return true;
        w.present = true;
        while (!atEnd()) {
            char c = peek();
            if (isBlank(c) || c == '\n' || c == '#' || c == ';')
                break;
            if (c == '\'' || c == '"') {
                if (!quoted(w))
                    return false;
                continue;
            }
            if (c == '\\') {
                if (std::size_t n = continuation()) {
                    skip(n);
                    continue;
                }
                advance(); // the next byte stands for itself
                if (atEnd())
                    break;
                c = peek();
            }
            w.text += c;
            advance();
            if (w.text.size() > uciMaxValueBytes)
                return tooLong(w);
        }
        return true;
    }

    // 'single quotes' take every byte as it is; "double quotes" take a
    // backslash escape. Both may span lines.
    bool quoted(Word &w)
    {
        char quote = peek();
        unsigned line = line_, col = column();
        advance();
        for (;;) {
            if (atEnd())
                return fail(line, col,
                            std::string("unterminated ") + quote +
                                " (the quote opened here is not closed before the end of the "
                                "file)");
            char c = peek();
            if (c == quote) {
                advance();
                return true;
            }
            if (c == '\\' && quote == '"') {
                if (std::size_t n = continuation()) {
                    skip(n);
                    continue;
                }
                advance();
                if (atEnd())
                    continue; // reported as unterminated
                c = peek();
            }
            w.text += c;
            advance();
            if (w.text.size() > uciMaxValueBytes)
                return tooLong(w);
        }
    }

    bool package(unsigned line, unsigned col)
    {
        Word name;
        if (!read(name))
            return false;
        if (!name.present || name.text.empty())
            return fail(line, col, "package needs a name");
        if (!isName(name.text, true) || name.text.size() > uciMaxNameBytes)
            return fail(name.line, name.column,
                        "invalid package name \"" + printable(name.text) + "\"");
        if (sawPackage_ || !package_.sections.empty())
            return fail(line, col, "package must come once, before the first config section");
        if (name.text != "meshd")
            return fail(name.line, name.column,
                        "package \"" + name.text + "\" is not meshd's config (package meshd)");
        sawPackage_ = true;
        return true;
    }

    bool section(unsigned line, unsigned col)
    {
        Word type, name;
        if (!read(type))
            return false;
        if (!type.present || type.text.empty())
            return fail(line, col, "config needs a section type");
        if (!isType(type.text) || type.text.size() > uciMaxNameBytes)
            return fail(type.line, type.column,
                        "invalid section type \"" + printable(type.text) +
                            "\" (printable ASCII without spaces, at most " +
                            std::to_string(uciMaxNameBytes) + " bytes)");
        if (!read(name))
            return false;
        if (name.present && !name.text.empty() &&
            (!isName(name.text) || name.text.size() > uciMaxNameBytes))
            return fail(name.line, name.column,
                        "invalid section name \"" + printable(name.text) +
                            "\" (letters, digits and _, at most " +
                            std::to_string(uciMaxNameBytes) + " bytes)");
        if (package_.sections.size() == uciMaxSections)
            return fail(line, col, "more than " + std::to_string(uciMaxSections) + " sections");
        UciSection s;
        s.type = type.text;
        s.name = name.text;
        s.line = line;
        s.index = typeCount_[s.type]++;
        if (!s.name.empty()) {
            auto [it, inserted] = names_.emplace(s.name, package_.sections.size());
            if (!inserted) {
                const UciSection &first = package_.sections[it->second];
                if (first.type != s.type)
                    return fail(line, col,
                                "a " + s.type + " section named \"" + s.name +
                                    "\" would overwrite the " + first.type +
                                    " section of that name at line " +
                                    std::to_string(first.line));
                error_ = ConfigError{ConfigErrorKind::DuplicateKey, s.path(),
                                     "section appears twice (line " + std::to_string(line) +
                                         "; first at line " + std::to_string(first.line) + ")"};
                return false;
            }
        }
        package_.sections.push_back(std::move(s));
        return true;
    }

    bool option(bool list, unsigned line, unsigned col)
    {
        std::string what = list ? "list" : "option";
        if (package_.sections.empty())
            return fail(line, col, what + " before the first config section");
        Word name, value;
        if (!read(name))
            return false;
        if (!name.present || name.text.empty())
            return fail(line, col, what + " needs a name and a value");
        if (!isName(name.text) || name.text.size() > uciMaxNameBytes)
            return fail(name.line, name.column,
                        "invalid option name \"" + printable(name.text) +
                            "\" (letters, digits and _, at most " +
                            std::to_string(uciMaxNameBytes) + " bytes)");
        if (!read(value))
            return false;
        if (!value.present)
            return fail(value.line, value.column, what + " " + name.text + " needs a value");
        if (!isUtf8(value.text))
            return fail(value.line, value.column, "the value is not valid UTF-8");
        if (values_++ == uciMaxValues)
            return fail(line, col,
                        "more than " + std::to_string(uciMaxValues) + " option and list values");
        UciSection &s = package_.sections.back();
        auto it = std::find_if(s.options.begin(), s.options.end(),
                               [&](const UciOption &o) { return o.name == name.text; });
        if (it == s.options.end()) {
            if (s.options.size() == uciMaxOptionsPerSection)
                return fail(line, col,
                            "more than " + std::to_string(uciMaxOptionsPerSection) +
                                " options in one section");
            s.options.push_back(UciOption{name.text, list, {}, line});
            it = s.options.end() - 1;
        } else if (!list || !it->list) {
            error_ = ConfigError{ConfigErrorKind::DuplicateKey, s.path() + "." + name.text,
                                 "option appears twice in the same section (line " +
                                     std::to_string(line) + "; first at line " +
                                     std::to_string(it->line) + ")"};
            return false;
        } else if (it->values.size() == uciMaxListValues) {
            return fail(line, col,
                        "list " + name.text + " has more than " +
                            std::to_string(uciMaxListValues) + " values");
        }
        it->values.push_back(UciValue{std::move(value.text), value.line, value.column});
        return true;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t lineStart_ = 0;
    unsigned line_ = 1;
    std::optional<ConfigError> error_;
    UciPackage package_;
    bool sawPackage_ = false;
    std::map<std::string, std::size_t> typeCount_;
    std::map<std::string, std::size_t> names_;
    std::size_t values_ = 0;
};

// How a UCI string becomes the JSON value the validator expects.
enum class Kind { String, Bool, Integer, UidOrAny, List };

struct OptionSpec {
    std::string_view name;
    Kind kind;
};

struct SectionSpec {
    std::string_view type;
    std::vector<OptionSpec> options;
};

// meshd's own options per section type; a mesh or hardif section also
// takes the batman-adv settings of batman::settingSpecs(). The unit tests
// check this against configToJson()'s keys.
const std::vector<SectionSpec> &sectionSpecs()
{
    static const std::vector<SectionSpec> specs = {
        {"mesh",
         {{"interface", Kind::String},
          {"algorithm", Kind::String},
          {"manage", Kind::Bool},
          {"hardif", Kind::List},
          {"poll_interval_ms", Kind::Integer},
          {"teardown_on_exit", Kind::Bool}}},
        {"hardif", {{"name", Kind::String}, {"mesh", Kind::String}}},
        {"control",
         {{"socket", Kind::String},
          {"mode", Kind::String},
          {"group", Kind::String},
          {"admin_group", Kind::String},
          {"max_clients", Kind::Integer},
          {"write_timeout_ms", Kind::Integer}}},
        {"metrics", {{"enabled", Kind::Bool}, {"listen", Kind::String}}},
        {"probes", {{"enabled", Kind::Bool}, {"btf", Kind::String}}},
        {"spiffe",
         {{"endpoint", Kind::String},
          {"trust_domain", Kind::String},
          {"authorize_id", Kind::List},
          {"authorize_member_of", Kind::String},
          {"listen", Kind::String},
          {"peer", Kind::List},
          {"retry_max_ms", Kind::Integer},
          {"peer_retry_ms", Kind::Integer},
          {"handshake_timeout_ms", Kind::Integer},
          {"node_name", Kind::String},
          {"agent_uid", Kind::UidOrAny},
          {"allow_remote_endpoint", Kind::Bool}}},
        {"peer", {{"address", Kind::String}, {"id", Kind::String}}},
        {"tunnel",
         {{"enabled", Kind::Bool},
          {"interface", Kind::String},
          {"listen", Kind::String},
          {"mtu", Kind::Integer},
          {"workers", Kind::Integer},
          {"cipher", Kind::String},
          {"attach", Kind::Bool},
          {"io", Kind::String},
          {"rekey_seconds", Kind::Integer},
          {"fastd_status_socket", Kind::String}}},
        {"log", {{"level", Kind::String}, {"target", Kind::String}}},
    };
    return specs;
}

const SectionSpec *findSection(std::string_view type)
{
    for (const auto &s : sectionSpecs())
        if (s.type == type)
            return &s;
    return nullptr;
}

const OptionSpec *findOption(const SectionSpec &section, std::string_view name)
{
    for (const auto &o : section.options)
        if (o.name == name)
            return &o;
    return nullptr;
}

// UCI's booleans, as OpenWrt's scripts read them.
std::optional<bool> uciBool(std::string_view s)
{
    for (std::string_view t : {"1", "yes", "on", "true", "enabled"})
        if (s == t)
            return true;
    for (std::string_view f : {"0", "no", "off", "false", "disabled"})
        if (s == f)
            return false;
    return std::nullopt;
}

bool isDecimal(std::string_view s)
{
    if (!s.empty() && s.front() == '-')
        s.remove_prefix(1);
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A decimal integer as JSON's parser would give it (negative ones signed).
std::optional<json> uciInteger(std::string_view s)
{
    if (!isDecimal(s))
        return std::nullopt;
    const char *end = s.data() + s.size();
    if (s.front() == '-') {
        std::int64_t v;
        auto [p, ec] = std::from_chars(s.data(), end, v);
        if (ec != std::errc() || p != end)
            return std::nullopt;
        return json(v);
    }
    std::uint64_t v;
    auto [p, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || p != end)
        return std::nullopt;
    return json(v);
}

Kind settingKind(const std::string &name, batman::SettingScope scope)
{
    const batman::SettingSpec *spec = batman::findSetting(name, scope);
    if (!spec)
        return Kind::String; // the validator names it unknown
    switch (spec->kind) {
    case batman::SettingKind::Bool:
        return Kind::Bool;
    case batman::SettingKind::Uint:
        return Kind::Integer;
    case batman::SettingKind::Choice:
        return Kind::String;
    }
    return Kind::String;
}

std::string join(const std::set<std::string> &names)
{
    std::string s;
    for (const auto &n : names)
        s += (s.empty() ? "" : ", ") + n;
    return s;
}

// An unknown option's message, naming what the section knows (and the
// spelling meshd uses when only the unit is missing, as in netifd's
// batadv proto: orig_interval).
std::string unknownOption(std::string_view type, const std::string &name,
                          std::optional<batman::SettingScope> scope)
{
    std::set<std::string> known;
    if (const SectionSpec *spec = findSection(type))
        for (const auto &o : spec->options)
            known.insert(std::string(o.name));
    if (scope)
        for (const auto &s : batman::settingSpecs())
            if (s.scope == *scope)
                known.insert(std::string(s.name));
    std::string message = "unknown option (known options here: " + join(known) + ")";
    for (std::string_view suffix : {"_ms", "_kbps"})
        if (known.count(name + std::string(suffix)))
            message += "; did you mean " + name + std::string(suffix) + "?";
    if (name == "routing_algo" && known.count("algorithm"))
        message += "; did you mean algorithm?";
    return message;
}

const char *const jsonRoots[] = {"mesh", "control", "metrics", "probes", "spiffe", "tunnel", "log"};

class Translator {
public:
    explicit Translator(UciTree &out) : out_(out) {}

    void run(const UciPackage &package)
    {
        std::vector<const UciSection *> meshes, hardifs, peers;
        std::map<std::string, const UciSection *> single;
        for (const auto &s : package.sections) {
            if (s.type == "mesh") {
                meshes.push_back(&s);
            } else if (s.type == "hardif") {
                hardifs.push_back(&s);
            } else if (s.type == "peer") {
                peers.push_back(&s);
            } else if (findSection(s.type)) {
                auto [it, inserted] = single.emplace(s.type, &s);
                if (!inserted)
                    error(ConfigErrorKind::DuplicateKey, s.path(), s.line,
                          "a second " + s.type + " section (the first is at line " +
                              std::to_string(it->second->line) + "); there is one of each");
            } else {
                std::set<std::string> types(uciSectionTypes().begin(), uciSectionTypes().end());
                error(ConfigErrorKind::UnknownKey, s.path(), s.line,
                      "unknown section type \"" + s.type + "\" (known types: " + join(types) +
                          ")");
            }
        }
        meshSections(meshes, hardifs);
        for (const char *type : {"control", "metrics", "probes", "tunnel", "log"})
            plainSection(type, single);
        spiffeSections(single, peers);
        // Validator messages name other keys (spiffe.trust_domain): their
        // sections get a UCI name even when the file has none.
        for (const char *root : jsonRoots)
            if (!out_.origins.count(root))
                origin(root, std::string("meshd.@") + root + "[0]", 0);
    }

private:
    void origin(const std::string &jsonPath, std::string uciPath, unsigned line,
                std::string hint = {})
    {
        out_.origins[jsonPath] = UciOrigin{std::move(uciPath), line, std::move(hint), {}};
    }

    void error(ConfigErrorKind kind, const std::string &path, unsigned line,
               const std::string &message)
    {
        out_.errors.push_back(
            {{kind, path, line ? message + " (line " + std::to_string(line) + ")" : message},
             line});
    }

    // An option's value(s) as JSON, with the origin of each.
    json value(const UciOption &o, Kind kind, const std::string &jsonPath,
               const std::string &uciPath)
    {
        if (kind == Kind::List || o.list) {
            json list = json::array();
            for (std::size_t i = 0; i < o.values.size(); i++) {
                list.push_back(o.values[i].text);
                origin(jsonPath + "[" + std::to_string(i) + "]", uciPath, o.values[i].line);
            }
            // An option where meshd expects a list is a list of one.
            origin(jsonPath, uciPath, o.line,
                   kind == Kind::List ? "" : "given with list; use option");
            return list;
        }
        const std::string &s = o.values.front().text;
        std::string hint;
        json v = s;
        switch (kind) {
        case Kind::Bool:
            if (auto b = uciBool(s))
                v = *b;
            else
                hint = "\"" + printable(s) +
                       "\" is not a UCI boolean: 1/0, yes/no, on/off, true/false or "
                       "enabled/disabled";
            break;
        case Kind::Integer:
        case Kind::UidOrAny:
            if (auto n = uciInteger(s))
                v = *n;
            else if (kind == Kind::Integer)
                hint = "\"" + printable(s) + "\" is " +
                       (isDecimal(s) ? "too large for a 64-bit integer" : "not a decimal integer");
            break;
        case Kind::String:
        case Kind::List:
            break;
        }
        origin(jsonPath, uciPath, o.line, hint);
        return v;
    }

    // The options of a mesh or hardif section that are not meshd's own:
    // batman-adv settings, judged by the validator.
    void setting(const UciOption &o, batman::SettingScope scope, std::string_view type,
                 const std::string &jsonPath, const std::string &uciPath, json &settings)
    {
        std::string p = jsonPath + ".settings." + o.name;
        settings[o.name] = value(o, settingKind(o.name, scope), p, uciPath + "." + o.name);
        out_.origins[p].unknown = unknownOption(type, o.name, scope);
    }

    // mesh sections and the hardif sections of each; no mesh section but
    // hardif sections: they belong to the default mesh.
    void meshSections(const std::vector<const UciSection *> &meshes,
                      const std::vector<const UciSection *> &hardifs)
    {
        bool several = meshes.size() > 1;
        std::size_t count = std::max<std::size_t>(meshes.size(), 1);
        std::vector<json> objects(count, json::object());
        std::vector<json> hardifLists(count, json::array());
        std::vector<std::string> interfaces(count, "bat0"), paths(count, "mesh");
        const SectionSpec &spec = *findSection("mesh");
        for (std::size_t k = 0; k < meshes.size(); k++) {
            const UciSection &s = *meshes[k];
            std::string jp = several ? "mesh[" + std::to_string(k) + "]" : "mesh";
            std::string base = s.path();
            paths[k] = jp;
            origin(jp, base, s.line);
            origin(jp + ".settings", base, s.line);
            json settings = json::object();
            if (!s.find("interface") && !s.name.empty()) {
                objects[k]["interface"] = s.name;
                interfaces[k] = s.name;
                origin(jp + ".interface", base, s.line,
                       "the section's name, as there is no option interface");
            }
            for (const auto &o : s.options) {
                std::string up = base + "." + o.name;
                if (o.name == "hardif") {
                    hardifLists[k] = value(o, Kind::List, jp + ".hardifs", up);
                } else if (const OptionSpec *os = findOption(spec, o.name)) {
                    objects[k][o.name] = value(o, os->kind, jp + "." + o.name, up);
                    if (o.name == "interface" && !o.list)
                        interfaces[k] = o.values.front().text;
                } else {
                    setting(o, batman::SettingScope::Mesh, "mesh", jp, base, settings);
                }
            }
            if (!settings.empty())
                objects[k]["settings"] = settings;
        }
        if (meshes.empty())
            origin("mesh", "meshd.@mesh[0]", 0);

        for (const UciSection *h : hardifs) {
            std::size_t k = 0;
            if (const UciOption *m = h->find("mesh")) {
                std::string want = m->values.front().text;
                auto it = std::find(interfaces.begin(), interfaces.end(), want);
                if (m->list || it == interfaces.end()) {
                    std::set<std::string> names(interfaces.begin(), interfaces.end());
                    error(ConfigErrorKind::Value, h->path() + ".mesh", m->line,
                          m->list ? "one mesh, given with option"
                                  : "no mesh section has interface \"" + printable(want) +
                                        "\" (mesh interfaces here: " + join(names) + ")");
                    continue;
                }
                k = static_cast<std::size_t>(it - interfaces.begin());
            } else if (several) {
                error(ConfigErrorKind::Value, h->path() + ".mesh", h->line,
                      "missing: with " + std::to_string(meshes.size()) +
                          " mesh sections, a hardif names its mesh's interface");
                continue;
            }
            std::string jp = paths[k] + ".hardifs[" + std::to_string(hardifLists[k].size()) + "]";
            hardifLists[k].push_back(hardifSection(*h, jp));
        }

        for (std::size_t k = 0; k < count; k++)
            if (!hardifLists[k].empty())
                objects[k]["hardifs"] = hardifLists[k];
        if (several) {
            out_.tree["mesh"] = objects;
            // The validator takes one mesh: its error about the list names
            // the second mesh section.
            origin("mesh", meshes[1]->path(), meshes[1]->line,
                   std::to_string(meshes.size()) + " mesh sections; this meshd runs one mesh");
        } else if (!meshes.empty() || !hardifLists[0].empty()) {
            out_.tree["mesh"] = objects[0];
        }
    }

    json hardifSection(const UciSection &h, const std::string &jp)
    {
        std::string base = h.path();
        json obj = json::object(), settings = json::object();
        origin(jp, base, h.line);
        origin(jp + ".settings", base, h.line);
        if (const UciOption *n = h.find("name")) {
            obj["name"] = value(*n, Kind::String, jp + ".name", base + ".name");
        } else if (!h.name.empty()) {
            obj["name"] = h.name;
            origin(jp + ".name", base, h.line, "the section's name, as there is no option name");
        } else {
            origin(jp + ".name", base + ".name", h.line,
                   "name the section (config hardif 'eth1') or give option name");
        }
        for (const auto &o : h.options)
            if (o.name != "name" && o.name != "mesh")
                setting(o, batman::SettingScope::Hardif, "hardif", jp, base, settings);
        if (!settings.empty())
            obj["settings"] = settings;
        return obj;
    }

    void plainSection(const std::string &type,
                      const std::map<std::string, const UciSection *> &single)
    {
        auto it = single.find(type);
        if (it == single.end())
            return;
        const UciSection &s = *it->second;
        const SectionSpec &spec = *findSection(type);
        origin(type, s.path(), s.line);
        json obj = json::object();
        for (const auto &o : s.options) {
            std::string up = s.path() + "." + o.name;
            if (const OptionSpec *os = findOption(spec, o.name))
                obj[o.name] = value(o, os->kind, type + "." + o.name, up);
            else
                error(ConfigErrorKind::UnknownKey, up, o.line,
                      unknownOption(type, o.name, std::nullopt));
        }
        out_.tree[type] = obj;
    }

    // The spiffe section with its authorizer (authorize_id, authorize_member_of)
    // and peers (list peer, then the peer sections).
    void spiffeSections(const std::map<std::string, const UciSection *> &single,
                        const std::vector<const UciSection *> &peers)
    {
        auto it = single.find("spiffe");
        const UciSection *s = it == single.end() ? nullptr : it->second;
        std::string base = s ? s->path() : "meshd.@spiffe[0]";
        origin("spiffe", base, s ? s->line : 0);
        json obj = json::object(), authorize = json::object(), peerList = json::array();
        if (s) {
            const SectionSpec &spec = *findSection("spiffe");
            const UciOption *lastAuthorizer = nullptr;
            for (const auto &o : s->options) {
                std::string up = base + "." + o.name;
                if (o.name == "authorize_id") {
                    authorize["ids"] = value(o, Kind::List, "spiffe.authorize.ids", up);
                } else if (o.name == "authorize_member_of") {
                    authorize["member_of"] =
                        value(o, Kind::String, "spiffe.authorize.member_of", up);
                } else if (o.name == "peer") {
                    peerList = value(o, Kind::List, "spiffe.peers", up);
                    continue;
                } else if (const OptionSpec *os = findOption(spec, o.name)) {
                    obj[o.name] = value(o, os->kind, "spiffe." + o.name, up);
                    continue;
                } else {
                    error(ConfigErrorKind::UnknownKey, up, o.line,
                          unknownOption("spiffe", o.name, std::nullopt));
                    continue;
                }
                if (!lastAuthorizer || o.line > lastAuthorizer->line)
                    lastAuthorizer = &o;
            }
            if (lastAuthorizer) {
                obj["authorize"] = authorize;
                origin("spiffe.authorize", base + "." + lastAuthorizer->name,
                       lastAuthorizer->line);
            }
        }
        const SectionSpec &peerSpec = *findSection("peer");
        for (const UciSection *p : peers) {
            std::string jp = "spiffe.peers[" + std::to_string(peerList.size()) + "]";
            json peer = json::object();
            origin(jp, p->path(), p->line);
            for (const auto &o : p->options) {
                std::string up = p->path() + "." + o.name;
                if (const OptionSpec *os = findOption(peerSpec, o.name))
                    peer[o.name] = value(o, os->kind, jp + "." + o.name, up);
                else
                    error(ConfigErrorKind::UnknownKey, up, o.line,
                          unknownOption("peer", o.name, std::nullopt));
            }
            peerList.push_back(peer);
        }
        if (!peerList.empty()) {
            obj["peers"] = peerList;
            if (!out_.origins.count("spiffe.peers"))
                origin("spiffe.peers", base + ".peer", 0);
        }
        if (s || !peers.empty())
            out_.tree["spiffe"] = obj;
    }

    UciTree &out_;
};

// JSON keys whose UCI spelling differs (mesh.settings.X is meshd.<mesh>.X).
std::string uciKey(const std::string &jsonKey)
{
    if (jsonKey == "hardifs")
        return "hardif";
    if (jsonKey == "peers")
        return "peer";
    if (jsonKey == "authorize")
        return "authorize_id";
    return jsonKey;
}

// The rest of a JSON path below a renamed prefix (".trust_domain",
// ".settings.hop_penalty"), in UCI names.
std::string uciRemainder(std::string_view rest)
{
    std::string out;
    while (!rest.empty()) {
        if (rest.front() == '[') {
            std::size_t close = rest.find(']');
            if (close == std::string_view::npos)
                close = rest.size() - 1;
            out += rest.substr(0, close + 1);
            rest.remove_prefix(close + 1);
            continue;
        }
        if (rest.front() == '.')
            rest.remove_prefix(1);
        std::size_t end = rest.find_first_of(".[");
        std::string key(rest.substr(0, end));
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
        if (key != "settings")
            out += "." + uciKey(key);
    }
    return out;
}

bool isWordChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Replaces whole words.
std::string replaceWord(std::string text, std::string_view word, std::string_view by)
{
    std::size_t at = 0;
    while ((at = text.find(word, at)) != std::string::npos) {
        bool before = at == 0 || !isWordChar(text[at - 1]);
        bool after = at + word.size() == text.size() || !isWordChar(text[at + word.size()]);
        if (before && after) {
            text.replace(at, word.size(), by);
            at += by.size();
        } else {
            at += word.size();
        }
    }
    return text;
}

} // namespace

bool looksLikeUci(std::string_view text)
{
    bool comments = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos)
            end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        while (!line.empty() && isBlank(line.front()))
            line.remove_prefix(1);
        if (line.empty())
            continue;
        if (line.front() == '#') {
            comments = true;
            continue;
        }
        for (std::string_view keyword : {"config", "package"})
            if (line.substr(0, keyword.size()) == keyword &&
                (line.size() == keyword.size() || isBlank(line[keyword.size()])))
                return true;
        return false;
    }
    return comments;
}

std::variant<UciPackage, ConfigError> parseUci(std::string_view text)
{
    return Parser(text).run();
}

UciTree uciToJson(const UciPackage &package)
{
    UciTree out;
    Translator(out).run(package);
    return out;
}

std::string UciTree::uciPath(const std::string &jsonPath) const
{
    // The longest prefix of the path, ending at a '.' or '[', that came from
    // the file.
    for (std::size_t end = jsonPath.size();; end--) {
        if (end == jsonPath.size() || jsonPath[end] == '.' || jsonPath[end] == '[') {
            auto it = origins.find(jsonPath.substr(0, end));
            if (it != origins.end())
                return it->second.path + uciRemainder(std::string_view(jsonPath).substr(end));
        }
        if (end == 0)
            return jsonPath;
    }
}

UciError UciTree::rename(const ConfigError &error) const
{
    UciError out{error, 0};
    out.error.path = uciPath(error.path);
    // JSON paths in the message's prose: "needs spiffe.trust_domain".
    std::string &m = out.error.message;
    static const json keys = configToJson(Config{});
    for (const char *root : jsonRoots) {
        std::string prefix = std::string(root) + ".";
        std::size_t at = 0;
        while ((at = m.find(prefix, at)) != std::string::npos) {
            std::size_t end = at + prefix.size();
            while (end < m.size() && isWordChar(m[end]))
                end++;
            std::string key = m.substr(at + prefix.size(), end - at - prefix.size());
            bool word = (at == 0 || (!isWordChar(m[at - 1]) && m[at - 1] != '.' &&
                                     m[at - 1] != '/' && m[at - 1] != '-'));
            if (!word || !keys[root].contains(key)) {
                at = end;
                continue;
            }
            std::string renamed = uciPath(prefix + key);
            m.replace(at, end - at, renamed);
            at += renamed.size();
        }
    }
    if (error.path.rfind("spiffe.authorize", 0) == 0)
        m = replaceWord(replaceWord(m, "ids", "authorize_id"), "member_of", "authorize_member_of");
    auto it = origins.find(error.path);
    if (it == origins.end())
        return out;
    const UciOrigin &o = it->second;
    if (error.kind == ConfigErrorKind::UnknownKey && !o.unknown.empty())
        m = o.unknown;
    if (!o.hint.empty())
        m += " (" + o.hint + ")";
    if (o.line) {
        m += " (line " + std::to_string(o.line) + ")";
        out.line = o.line;
    }
    return out;
}

ConfigResult parseUciConfig(std::string_view text, const std::string &defaultSocket)
{
    ConfigResult result;
    auto parsed = parseUci(text);
    if (auto *e = std::get_if<ConfigError>(&parsed)) {
        result.errors.push_back(std::move(*e));
        return result;
    }
    UciTree t = uciToJson(std::get<UciPackage>(parsed));
    std::string tree;
    try {
        tree = t.tree.dump();
    } catch (const json::exception &e) {
        // The parser let only UTF-8 through; this would be a bug of ours.
        result.errors.push_back(
            {ConfigErrorKind::Syntax, "", std::string("cannot translate: ") + e.what()});
        return result;
    }
    ConfigResult validated = parseConfig(tree, defaultSocket);
    std::vector<UciError> errors = std::move(t.errors);
    for (const auto &e : validated.errors)
        errors.push_back(t.rename(e));
    // In file order; errors of no single line (a missing option) last.
    std::stable_sort(errors.begin(), errors.end(), [](const UciError &a, const UciError &b) {
        return (a.line ? a.line : UINT32_MAX) < (b.line ? b.line : UINT32_MAX);
    });
    for (auto &e : errors)
        result.errors.push_back(std::move(e.error));
    if (result.errors.empty())
        result.config = std::move(validated.config);
    auto names = std::make_shared<const UciTree>(std::move(t));
    result.keyName = [names](const std::string &jsonPath) { return names->uciPath(jsonPath); };
    return result;
}

std::vector<std::string> uciOptionNames(std::string_view sectionType)
{
    std::vector<std::string> names;
    if (const SectionSpec *spec = findSection(sectionType))
        for (const auto &o : spec->options)
            names.emplace_back(o.name);
    return names;
}

const std::vector<std::string> &uciSectionTypes()
{
    static const std::vector<std::string> types = [] {
        std::vector<std::string> t;
        for (const auto &s : sectionSpecs())
            t.emplace_back(s.type);
        return t;
    }();
    return types;
}

} // namespace meshd
