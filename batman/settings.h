// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace batman {

// The tunables of a batman-adv mesh interface (SET_MESH) and of a hard
// interface (SET_HARDIF), named as meshd's config and `set` command name
// them. Units are explicit in the name; the driver converts to the
// kernel's units (ms, 100 kbit/s).
enum class SettingKind { Bool, Uint, Choice };
enum class SettingScope { Mesh, Hardif };

struct SettingSpec {
    std::string_view name;
    SettingScope scope;
    SettingKind kind;
    std::uint64_t min = 0;
    std::uint64_t max = 0;
    std::vector<std::string_view> choices = {};
    std::string_view help = {};
};

std::span<const SettingSpec> settingSpecs();
const SettingSpec *findSetting(std::string_view name, SettingScope scope);

} // namespace batman
