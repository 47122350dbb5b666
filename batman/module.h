// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <optional>
#include <string>

namespace batman {

// Version of the loaded batman-adv module ("2022.3"), or nothing when the
// running kernel has no batman-adv.
std::optional<std::string> moduleVersion(const std::string &sysfsRoot = "/sys");

} // namespace batman
