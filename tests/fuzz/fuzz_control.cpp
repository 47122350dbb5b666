// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket's request parser: one line as a client sends it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "control_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string_view line(reinterpret_cast<const char *>(data), size);
    auto parsed = meshd::parseRequest(line);
    if (auto *req = std::get_if<meshd::Request>(&parsed))
        (void)req->cmd.size();
    return 0;
}
