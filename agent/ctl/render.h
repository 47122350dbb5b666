// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace meshctl {

struct Column {
    std::string header;
    std::function<std::string(const nlohmann::json &row)> cell;
    bool alignRight = false;
};

// Pads every column to its widest cell; two spaces between columns.
std::string renderTable(const std::vector<Column> &columns, const nlohmann::json &rows);

// A scalar as a human reads it: null as "-", booleans as yes/no.
std::string formatScalar(const nlohmann::json &value);
std::string formatThroughput(const nlohmann::json &kbps);
std::string formatMillis(const nlohmann::json &ms);
std::string formatDuration(std::int64_t seconds);

// "key: value" lines, nested objects indented.
std::string renderObject(const nlohmann::json &object, int indent = 0);

// A command's result in the human format.
std::string renderResult(const std::string &command, const nlohmann::json &result);

// One monitor event on one line.
std::string renderEvent(const nlohmann::json &event);

} // namespace meshctl
