// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <string_view>

namespace meshd {

// How deep JSON from outside may nest arrays and objects. nlohmann::json
// parses iteratively but copies, compares and destroys values recursively,
// so a line of 100,000 '[' would overflow the stack long after parsing:
// every parser of outside JSON (control socket, peer frames, config) checks
// the depth on the raw text first. meshd's own documents nest at most 6.
constexpr std::size_t maxJsonDepth = 32;

// True when no array or object in `text` nests deeper than `limit` levels.
// Brackets inside strings (escapes included) do not count. The text need
// not be valid JSON: this only bounds what the parser will build.
constexpr bool jsonDepthWithin(std::string_view text, std::size_t limit = maxJsonDepth)
{
    std::size_t depth = 0;
    bool inString = false;
    bool escaped = false;
    for (char c : text) {
        if (inString) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                inString = false;
            continue;
        }
        switch (c) {
        case '"':
            inString = true;
            break;
        case '[':
        case '{':
            if (++depth > limit)
                return false;
            break;
        case ']':
        case '}':
            if (depth > 0)
                --depth;
            break;
        default:
            break;
        }
    }
    return true;
}

} // namespace meshd
