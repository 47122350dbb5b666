// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>

namespace meshd::forward {

// The unit of false sharing on every target we build for (x86-64, arm64,
// armhf, mipsel). std::hardware_destructive_interference_size is not used
// because g++ warns that its value may differ between compilers.
inline constexpr std::size_t cacheLineSize = 64;

} // namespace meshd::forward
