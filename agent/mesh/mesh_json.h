// SPDX-License-Identifier: GPL-2.0-or-later
// JSON helpers shared by the MeshService source files.
#pragma once

#include <nlohmann/json.hpp>
#include <variant>

#include "tables.h"

namespace meshd {

inline nlohmann::json optionalJson(const auto &v)
{
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

inline nlohmann::json settingJson(const batman::SettingValue &v)
{
    return std::visit([](const auto &x) { return nlohmann::json(x); }, v);
}

} // namespace meshd
