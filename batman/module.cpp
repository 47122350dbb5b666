// SPDX-License-Identifier: GPL-2.0-or-later
#include "module.h"

#include <fstream>

namespace batman {

std::optional<std::string> moduleVersion(const std::string &sysfsRoot)
{
    std::ifstream in(sysfsRoot + "/module/batman_adv/version");
    std::string version;
    if (!in || !std::getline(in, version) || version.empty())
        return std::nullopt;
    return version;
}

} // namespace batman
