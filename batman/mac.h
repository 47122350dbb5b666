// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace batman {

// A MAC address; printed lower-case as aa:bb:cc:dd:ee:ff.
struct Mac {
    std::array<std::uint8_t, 6> bytes{};

    std::string str() const;
    static std::optional<Mac> parse(std::string_view text);
    auto operator<=>(const Mac &) const = default;
};

} // namespace batman
