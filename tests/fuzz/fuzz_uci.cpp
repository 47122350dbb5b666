// SPDX-License-Identifier: GPL-2.0-or-later
// The UCI config loader (/etc/config/meshd): UCI's text format, its
// translation into the config tree, and the one validator: a UCI file that
// loads must give the very config that its tree, written as JSON, gives.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "config.h"
#include "uci.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    (void)meshd::looksLikeUci(text);
    auto parsed = meshd::parseUci(text);
    std::string treeJson;
    bool translated = false;
    if (auto *package = std::get_if<meshd::UciPackage>(&parsed)) {
        meshd::UciTree tree = meshd::uciToJson(*package);
        for (const auto &e : tree.errors)
            (void)e.error.describe();
        (void)tree.uciPath("mesh.hardifs[0].hop_penalty");
        translated = tree.errors.empty();
        treeJson = tree.tree.dump();
    } else {
        (void)std::get<meshd::ConfigError>(parsed).describe();
    }
    meshd::ConfigResult r = meshd::parseUciConfig(text, "/run/meshd/meshd.sock");
    if (r.ok()) {
        (void)meshd::configToJson(*r.config).dump();
        meshd::ConfigResult same = meshd::parseConfig(treeJson, "/run/meshd/meshd.sock");
        if (!translated || !same.ok() || !(*same.config == *r.config))
            __builtin_trap();
    } else {
        for (const auto &e : r.errors)
            (void)e.describe();
    }
    return 0;
}
