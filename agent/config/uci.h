// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config.h"

// meshd's config in OpenWrt's UCI syntax (/etc/config/meshd): a parser of
// UCI's text format, and a translation of its sections into the JSON tree
// that parseConfig() validates, so that one validator judges both syntaxes
// and its errors are named by UCI paths (meshd.bat0.hop_penalty).
namespace meshd {

// Bounds on what a UCI file can make meshd hold; the file itself is bounded
// like a JSON one (16 MiB).
inline constexpr std::size_t uciMaxFileBytes = 16 * 1024 * 1024;
inline constexpr std::size_t uciMaxSections = 1024;
inline constexpr std::size_t uciMaxOptionsPerSection = 256;
inline constexpr std::size_t uciMaxListValues = 1024;
inline constexpr std::size_t uciMaxValues = 16384; // option and list values of the whole file
inline constexpr std::size_t uciMaxValueBytes = 4096;
inline constexpr std::size_t uciMaxNameBytes = 64; // section types, section and option names

struct UciValue {
    std::string text;
    unsigned line = 0;
    unsigned column = 0;
};

// `option NAME 'VALUE'` (one value) or every `list NAME 'VALUE'` of a name.
struct UciOption {
    std::string name;
    bool list = false;
    std::vector<UciValue> values;
    unsigned line = 0; // of the first statement
};

// `config TYPE ['NAME']` and its options.
struct UciSection {
    std::string type;
    std::string name;      // empty: anonymous
    std::size_t index = 0; // among the sections of its type, as in @TYPE[INDEX]
    unsigned line = 0;
    std::vector<UciOption> options;

    // meshd.NAME, or meshd.@TYPE[INDEX] when anonymous (as uci names it).
    std::string path() const;
    const UciOption *find(std::string_view optionName) const;
};

struct UciPackage {
    std::vector<UciSection> sections;
};

// Parses UCI's text format as `uci import` reads it: `package`, `config`,
// `option`, `list`, quotes, backslash escapes, comments, `;` between
// statements. The first syntax error, exceeded bound or repeated option
// stops it; a syntax error's message starts with "line L column C: ".
std::variant<UciPackage, ConfigError> parseUci(std::string_view text);

// Whether a config file is UCI: its first line that is neither blank nor a
// comment starts with `config` or `package`, or it has only comments.
bool looksLikeUci(std::string_view text);

// Where a value of the JSON tree came from.
struct UciOrigin {
    std::string path;    // UCI path, such as meshd.@mesh[0].hop_penalty
    unsigned line = 0;   // 0: from no single statement (a default, a missing option)
    std::string hint;    // added to an error about exactly this value
    std::string unknown; // replaces an unknown_key message (names the UCI options)
};

struct UciError {
    ConfigError error;
    unsigned line = 0; // for ordering; already in the message
};

// The UCI sections as the JSON tree that parseConfig() validates.
struct UciTree {
    nlohmann::json tree = nlohmann::json::object();
    // What the translation itself rejects: unknown section types and
    // options, a second control section, a hardif of no mesh.
    std::vector<UciError> errors;
    // JSON path -> origin, for every value and section put into the tree.
    std::map<std::string, UciOrigin> origins;

    // A validator error about the tree, renamed to UCI names.
    UciError rename(const ConfigError &error) const;
    // A JSON path such as spiffe.trust_domain in UCI names.
    std::string uciPath(const std::string &jsonPath) const;
};

UciTree uciToJson(const UciPackage &package);

// parseUci(), uciToJson() and parseConfig()'s validation of the tree; every
// error of the last two is reported, ordered by line.
ConfigResult parseUciConfig(std::string_view text, const std::string &defaultSocket);

// meshd's own options of a section type, as UCI spells them (without the
// batman-adv settings a mesh or hardif section also takes); empty for a
// type meshd does not know.
std::vector<std::string> uciOptionNames(std::string_view sectionType);
// The section types meshd knows.
const std::vector<std::string> &uciSectionTypes();

} // namespace meshd
