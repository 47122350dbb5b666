// SPDX-License-Identifier: GPL-2.0-or-later
// The config loader: a whole meshd.json, then the tree meshd would run with.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char *>(data), size);
    meshd::ConfigResult r = meshd::parseConfig(text, "/run/meshd/meshd.sock");
    if (r.ok()) {
        // What a reload compares: a config never differs from itself.
        (void)meshd::configToJson(*r.config).dump();
        if (!meshd::diffConfig(*r.config, *r.config).empty())
            __builtin_trap();
    } else {
        for (const auto &e : r.errors)
            (void)e.describe();
    }
    return 0;
}
