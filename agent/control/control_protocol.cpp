// SPDX-License-Identifier: GPL-2.0-or-later
#include "control_protocol.h"

#include "json_depth.h"

namespace meshd {

using nlohmann::json;

void LineFramer::feed(std::string_view data, std::vector<Item> &out)
{
    while (!data.empty()) {
        auto nl = data.find('\n');
        std::string_view chunk = data.substr(0, nl);
        if (discarding_) {
            if (nl != std::string_view::npos)
                discarding_ = false;
        } else if (buf_.size() + chunk.size() > maxLine_) {
            out.push_back({Item::Kind::TooLong, {}});
            std::string().swap(buf_); // give back the oversized line's memory
            discarding_ = nl == std::string_view::npos;
        } else {
            buf_.append(chunk);
            if (nl != std::string_view::npos) {
                if (!buf_.empty() && buf_.back() == '\r')
                    buf_.pop_back();
                if (!buf_.empty())
                    out.push_back({Item::Kind::Line, std::move(buf_)});
                buf_.clear();
            }
        }
        if (nl == std::string_view::npos)
            break;
        data.remove_prefix(nl + 1);
    }
}

std::variant<Request, ProtocolError> parseRequest(std::string_view line)
{
    if (!jsonDepthWithin(line))
        return ProtocolError{nullptr, errc::badRequest,
                             "request nests arrays or objects deeper than " +
                                 std::to_string(maxJsonDepth) + " levels"};
    json doc = json::parse(line.begin(), line.end(), nullptr, false);
    if (doc.is_discarded())
        return ProtocolError{nullptr, errc::badRequest, "request is not valid JSON"};
    if (!doc.is_object())
        return ProtocolError{nullptr, errc::badRequest, "request must be a JSON object"};

    Request req;
    if (auto it = doc.find("id"); it != doc.end()) {
        // Echoed in the reply: only a scalar, never a structure of the
        // client's making that meshd would copy and serialise back.
        if (it->is_structured())
            return ProtocolError{nullptr, errc::badRequest,
                                 "\"id\" must be a string, number, boolean or null"};
        req.id = *it;
    }
    for (auto it = doc.begin(); it != doc.end(); ++it)
        if (it.key() != "id" && it.key() != "cmd" && it.key() != "args")
            return ProtocolError{req.id, errc::badRequest,
                                 "unknown request member \"" + it.key() + "\""};
    auto cmd = doc.find("cmd");
    if (cmd == doc.end())
        return ProtocolError{req.id, errc::badRequest, "request has no \"cmd\""};
    if (!cmd->is_string() || cmd->get_ref<const std::string &>().empty())
        return ProtocolError{req.id, errc::badRequest, "\"cmd\" must be a non-empty string"};
    req.cmd = cmd->get<std::string>();
    if (auto args = doc.find("args"); args != doc.end()) {
        if (!args->is_object() && !args->is_null())
            return ProtocolError{req.id, errc::badRequest, "\"args\" must be an object"};
        if (args->is_object())
            req.args = *args;
    }
    return req;
}

std::string serialiseLine(const json &value)
{
    std::string s = value.dump(-1, ' ', false, json::error_handler_t::replace);
    s.push_back('\n');
    return s;
}

std::string okReply(const json &id, const json &result)
{
    return serialiseLine({{"id", id}, {"ok", true}, {"result", result}});
}

std::string okReplyHead(const json &id)
{
    std::string s = "{\"id\":";
    s += id.dump(-1, ' ', false, json::error_handler_t::replace);
    s += ",\"ok\":true,\"result\":";
    return s;
}

std::string okReplyRaw(const json &id, std::string_view result)
{
    std::string s = okReplyHead(id);
    s += result;
    s += okReplyTail;
    return s;
}

std::string errorReply(const json &id, std::string_view code, std::string_view message)
{
    return serialiseLine(
        {{"id", id}, {"ok", false}, {"error", {{"code", code}, {"message", message}}}});
}

std::string eventLine(std::string_view name, json fields, double unixTime)
{
    json event = {{"event", name}, {"time", unixTime}};
    if (fields.is_object())
        event.update(fields);
    return serialiseLine(event);
}

} // namespace meshd
