// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace meshd {

// The control socket speaks newline-delimited JSON: one request or reply
// object per line, at most `maxLineBytes` each.
constexpr std::size_t maxLineBytes = 1024 * 1024;

namespace errc {
constexpr const char *badRequest = "bad_request";
constexpr const char *unknownCommand = "unknown_command";
constexpr const char *invalidArgument = "invalid_argument";
constexpr const char *unavailable = "unavailable";
constexpr const char *internal = "internal";
constexpr const char *permissionDenied = "permission_denied";
} // namespace errc

// Splits a byte stream into lines. A line longer than the cap is reported
// once as TooLong and its remaining bytes are discarded up to its newline,
// so the stream stays usable.
class LineFramer {
public:
    explicit LineFramer(std::size_t maxLine = maxLineBytes) : maxLine_(maxLine) {}

    struct Item {
        enum class Kind { Line, TooLong } kind;
        std::string line;
    };

    void feed(std::string_view data, std::vector<Item> &out);
    std::size_t buffered() const { return buf_.size(); }
    // Memory the partial line holds (its buffer's capacity).
    std::size_t held() const { return buf_.capacity(); }

private:
    std::size_t maxLine_;
    std::string buf_;
    bool discarding_ = false;
};

struct Request {
    nlohmann::json id; // null when the request had none
    std::string cmd;
    nlohmann::json args = nlohmann::json::object();
};

struct ProtocolError {
    nlohmann::json id;
    std::string code;
    std::string message;
};

// Parses one line. Anything that is not a request object gives a
// ProtocolError carrying whatever id could be recovered.
std::variant<Request, ProtocolError> parseRequest(std::string_view line);

// Replies serialised as one line each, newline included. Invalid UTF-8 in
// strings is replaced rather than thrown.
std::string okReply(const nlohmann::json &id, const nlohmann::json &result);
// A successful reply in pieces: the head, the result's text, the tail.
std::string okReplyHead(const nlohmann::json &id);
inline constexpr std::string_view okReplyTail = "}\n";
// The same with `result` already serialised (valid JSON text, one line).
std::string okReplyRaw(const nlohmann::json &id, std::string_view result);
std::string errorReply(const nlohmann::json &id, std::string_view code, std::string_view message);
std::string eventLine(std::string_view name, nlohmann::json fields, double unixTime);
std::string serialiseLine(const nlohmann::json &value);

} // namespace meshd
