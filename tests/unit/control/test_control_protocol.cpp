// SPDX-License-Identifier: GPL-2.0-or-later
#include <catch2/catch.hpp>

#include "commands.h"
#include "control_protocol.h"

using namespace meshd;
using nlohmann::json;

namespace {

std::vector<LineFramer::Item> feedAll(LineFramer &f, std::initializer_list<std::string> chunks)
{
    std::vector<LineFramer::Item> out;
    for (const auto &c : chunks)
        f.feed(c, out);
    return out;
}

json reply(const std::string &line)
{
    REQUIRE(!line.empty());
    REQUIRE(line.back() == '\n');
    REQUIRE(line.find('\n') == line.size() - 1);
    return json::parse(line);
}

} // namespace

TEST_CASE("framer splits lines across arbitrary chunks", "[protocol]")
{
    LineFramer f;
    auto items = feedAll(f, {"{\"cmd\":\"ver", "sion\"}\n{\"cmd\"", ":\"status\"}\r\n\n", "tail"});
    REQUIRE(items.size() == 2);
    CHECK(items[0].line == "{\"cmd\":\"version\"}");
    CHECK(items[1].line == "{\"cmd\":\"status\"}");
    CHECK(f.buffered() == 4);
}

TEST_CASE("framer rejects an over-long line once and recovers", "[protocol]")
{
    LineFramer f(16);
    auto items = feedAll(f, {std::string(10, 'a'), std::string(10, 'b'), std::string(100, 'c'),
                             "\nok\n"});
    REQUIRE(items.size() == 2);
    CHECK(items[0].kind == LineFramer::Item::Kind::TooLong);
    CHECK(items[1].kind == LineFramer::Item::Kind::Line);
    CHECK(items[1].line == "ok");
    CHECK(f.buffered() == 0);

    // Exactly at the cap is fine; one byte over is not.
    LineFramer g(4);
    auto ok = feedAll(g, {"abcd\nabcde\nx\n"});
    REQUIRE(ok.size() == 3);
    CHECK(ok[0].line == "abcd");
    CHECK(ok[1].kind == LineFramer::Item::Kind::TooLong);
    CHECK(ok[2].line == "x");
}

TEST_CASE("framer never buffers more than the cap", "[protocol]")
{
    LineFramer f(1024);
    std::vector<LineFramer::Item> out;
    for (int i = 0; i < 1000; i++)
        f.feed(std::string(4096, 'z'), out);
    CHECK(f.buffered() <= 1024);
    CHECK(out.size() == 1);
}

TEST_CASE("requests parse with id and args", "[protocol]")
{
    auto r = parseRequest(R"({"id": "a1", "cmd": "set", "args": {"hop_penalty": 3}})");
    REQUIRE(std::holds_alternative<Request>(r));
    auto &req = std::get<Request>(r);
    CHECK(req.id == "a1");
    CHECK(req.cmd == "set");
    CHECK(req.args["hop_penalty"] == 3);

    auto bare = std::get<Request>(parseRequest(R"({"cmd":"status"})"));
    CHECK(bare.id.is_null());
    CHECK(bare.args.is_object());
    CHECK(bare.args.empty());
}

TEST_CASE("malformed requests are bad_request and keep the id", "[protocol]")
{
    auto bad = [](const std::string &line) {
        auto r = parseRequest(line);
        INFO(line);
        REQUIRE(std::holds_alternative<ProtocolError>(r));
        CHECK(std::get<ProtocolError>(r).code == errc::badRequest);
        return std::get<ProtocolError>(r);
    };
    bad("{bad");
    bad("[1,2]");
    bad("\"status\"");
    bad("{\"id\": 1}");
    bad("{\"cmd\": 3}");
    bad("{\"cmd\": \"\"}");
    bad("{\"cmd\": \"status\", \"args\": [1]}");
    bad("{\"cmd\": \"status\", \"extra\": 1}");
    bad("{\"cmd\": \"st\xff\xfe\"}");
    CHECK(bad("{\"id\": 7, \"cmd\": 3}").id == 7);
}

TEST_CASE("deep nesting is refused before it is parsed", "[protocol][hostile]")
{
    // 120 KB of '[' in the id once overflowed the stack when the parsed
    // value was copied into the reply (SIGSEGV).
    const std::string deep(60000, '[');
    const std::string close(60000, ']');
    for (const std::string &line :
         {"{\"id\":" + deep + close + ",\"cmd\":\"status\"}",
          "{\"cmd\":\"status\",\"args\":{\"a\":" + deep + close + "}}",
          "{\"cmd\":\"status\",\"args\":{\"a\":" + deep, // never closed
          deep}) {
        auto r = parseRequest(line);
        REQUIRE(std::holds_alternative<ProtocolError>(r));
        const auto &e = std::get<ProtocolError>(r);
        CHECK(e.code == errc::badRequest);
        CHECK(e.id.is_null());
        CHECK(e.message == "request nests arrays or objects deeper than 32 levels");
    }
    // 32 levels are fine; brackets inside strings do not count.
    std::string ok32 = "{\"cmd\":\"status\",\"args\":{\"a\":" + std::string(30, '[') +
                       std::string(30, ']') + "}}";
    CHECK(std::holds_alternative<Request>(parseRequest(ok32)));
    std::string quoted = "{\"cmd\":\"status\",\"id\":\"" + std::string(1000, '[') + "\\\"{\"}";
    auto q = parseRequest(quoted);
    REQUIRE(std::holds_alternative<Request>(q));
    CHECK(std::get<Request>(q).id.get<std::string>().size() == 1002);
}

TEST_CASE("a structured id is refused, not echoed", "[protocol][hostile]")
{
    for (const char *line : {R"({"id": [1], "cmd": "status"})", R"({"id": {"a": 1}, "cmd": "status"})"}) {
        auto r = parseRequest(line);
        REQUIRE(std::holds_alternative<ProtocolError>(r));
        CHECK(std::get<ProtocolError>(r).id.is_null());
        CHECK(std::get<ProtocolError>(r).message == "\"id\" must be a string, number, boolean or null");
    }
    for (const char *line : {R"({"id": true, "cmd": "status"})", R"({"id": 1.5, "cmd": "status"})",
                             R"({"id": null, "cmd": "status"})"})
        CHECK(std::holds_alternative<Request>(parseRequest(line)));
}

TEST_CASE("replies are single lines with the request's id", "[protocol]")
{
    json ok = reply(okReply(42, {{"version", "1"}}));
    CHECK(ok["id"] == 42);
    CHECK(ok["ok"] == true);
    CHECK(ok["result"]["version"] == "1");

    json err = reply(errorReply("x", errc::unavailable, "not yet"));
    CHECK(err["id"] == "x");
    CHECK(err["ok"] == false);
    CHECK(err["error"]["code"] == "unavailable");
    CHECK(err["error"]["message"] == "not yet");

    // Strings with newlines and invalid UTF-8 never break the framing.
    json nl = reply(okReply(nullptr, "two\nlines \xff"));
    CHECK(nl["result"].get<std::string>().find('\n') != std::string::npos);

    json ev = reply(eventLine("config_reloaded", {{"applied", {"log.level"}}}, 1700000000.5));
    CHECK(ev["event"] == "config_reloaded");
    CHECK(ev["time"] == 1700000000.5);
    CHECK(ev["applied"][0] == "log.level");
}

TEST_CASE("command registry dispatches and reports", "[protocol]")
{
    CommandRegistry reg;
    reg.add("echo", "echo args", [](const json &args) { return CommandResult::success(args); });
    reg.add("boom", "throws", [](const json &) -> CommandResult {
        throw std::runtime_error("kaput");
    });
    reg.addUnavailable("originators", "table", "no driver");

    CHECK(reg.dispatch("echo", {{"a", 1}}).result["a"] == 1);
    auto unknown = reg.dispatch("nope", json::object());
    CHECK_FALSE(unknown.ok);
    CHECK(unknown.code == errc::unknownCommand);
    auto unavailable = reg.dispatch("originators", json::object());
    CHECK(unavailable.code == errc::unavailable);
    CHECK(unavailable.message == "no driver");
    auto boom = reg.dispatch("boom", json::object());
    CHECK(boom.code == errc::internal);
    CHECK_THAT(boom.message, Catch::Contains("kaput"));
    CHECK(reg.describe().size() == 3);
}

TEST_CASE("asynchronous commands answer exactly once, in raw form too", "[protocol]")
{
    CommandRegistry reg;
    CommandRegistry::Reply later;
    reg.addAsync("slow", "answers later",
                 [&](const json &, CommandRegistry::Reply reply) { later = std::move(reply); });
    reg.addAsync("twice", "answers twice", [](const json &, CommandRegistry::Reply reply) {
        reply(CommandResult::successRaw("[1]"));
        reply(CommandResult::successRaw("[2]"));
    });
    reg.addAsync("throws", "throws before answering",
                 [](const json &, CommandRegistry::Reply) { throw std::runtime_error("late"); });
    reg.add("sync", "answers at once", [](const json &) { return CommandResult::success(7); });

    std::vector<CommandResult> got;
    auto collect = [&](CommandResult r) { got.push_back(std::move(r)); };
    reg.dispatch("slow", json::object(), collect);
    CHECK(got.empty());
    REQUIRE(later);
    later(CommandResult::successRaw("[{\"a\":1}]"));
    later(CommandResult::failure("x", "ignored: already answered"));
    REQUIRE(got.size() == 1);
    CHECK(got[0].rawResult == "[{\"a\":1}]");

    reg.dispatch("twice", json::object(), collect);
    REQUIRE(got.size() == 2);
    CHECK(got[1].rawResult == "[1]");

    reg.dispatch("throws", json::object(), collect);
    REQUIRE(got.size() == 3);
    CHECK(got[2].code == errc::internal);
    CHECK_THAT(got[2].message, Catch::Contains("late"));

    reg.dispatch("sync", json::object(), collect);
    REQUIRE(got.size() == 4);
    CHECK(got[3].result == 7);
    // The synchronous form refuses an asynchronous command instead of blocking.
    CHECK(reg.dispatch("slow", json::object()).code == errc::internal);
    CHECK(reg.describe().size() == 4);

    // Pieces come before the one answer and do not count as it.
    reg.addAsync("pieces", "answers in pieces", [](const json &, CommandRegistry::Reply reply) {
        reply(CommandResult::piece("[1"));
        reply(CommandResult::piece(",2"));
        reply(CommandResult::successRaw("]"));
        reply(CommandResult::piece(",3"));
    });
    got.clear();
    reg.dispatch("pieces", json::object(), collect);
    REQUIRE(got.size() == 3);
    CHECK(got[0].more);
    CHECK(got[1].more);
    CHECK_FALSE(got[2].more);
    CHECK(got[0].rawResult + got[1].rawResult + got[2].rawResult == "[1,2]");

    json raw = json::parse(okReplyRaw(5, "[{\"a\":1}]"));
    CHECK(raw["id"] == 5);
    CHECK(raw["ok"] == true);
    CHECK(raw["result"][0]["a"] == 1);
}
