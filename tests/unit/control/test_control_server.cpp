// SPDX-License-Identifier: GPL-2.0-or-later
// The control server under hostile rates, on a real event loop and real Unix
// sockets: monitor clients that never read while events arrive at 10,000 per
// second, and the bound on what all clients hold together.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "commands.h"
#include "control_server.h"
#include "event_loop.h"
#include "metrics.h"
#include "unique_fd.h"

using namespace meshd;

namespace
{

struct TempDir {
    std::string path;
    TempDir()
    {
        char tmpl[] = "/tmp/meshd-control-test.XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir()
    {
        std::string cmd = "rm -rf '" + path + "'";
        (void)std::system(cmd.c_str());
    }
};

UniqueFD connectTo(const std::string &path)
{
    UniqueFD fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    REQUIRE(fd.isValid());
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof(addr.sun_path));
    path.copy(addr.sun_path, path.size());
    REQUIRE(connect(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0);
    return fd;
}

void sendAll(int fd, const std::string &data)
{
    REQUIRE(send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size()));
}

// A monitor client that reads everything and counts the event lines.
struct Reader {
    UniqueFD fd;
    std::string partial;
    std::size_t events = 0;
    std::size_t lines = 0;
    bool ordered = true;
    long last = -1;

    void drain()
    {
        char buf[65536];
        for (;;) {
            ssize_t n = recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
            if (n <= 0)
                return;
            partial.append(buf, static_cast<std::size_t>(n));
            std::size_t start = 0, nl;
            while ((nl = partial.find('\n', start)) != std::string::npos) {
                std::string_view line(partial.data() + start, nl - start);
                ++lines;
                if (auto at = line.find("\"n\":"); at != std::string_view::npos) {
                    ++events;
                    long n = std::strtol(std::string(line.substr(at + 4)).c_str(), nullptr, 10);
                    ordered = ordered && n == last + 1;
                    last = n;
                }
                start = nl + 1;
            }
            partial.erase(0, start);
        }
    }
};

struct Fixture {
    TempDir dir;
    EventLoop loop;
    CommandRegistry commands;
    Metrics metrics;
    ControlServer server{loop, commands, metrics};
    std::string socketPath;

    Fixture()
    {
        REQUIRE(loop.init() == 0);
        commands.add("ping", "answers pong", [](const nlohmann::json &) {
            CommandResult r;
            r.ok = true;
            r.result = "pong";
            return r;
        });
        socketPath = dir.path + "/meshd.sock";
        ControlServer::Options opts;
        opts.path = socketPath;
        opts.mode = 0600;
        opts.writeTimeout = std::chrono::milliseconds(60000); // only the size bounds act here
        REQUIRE(server.start(opts).empty());
    }
    ~Fixture() { server.stop(); }

    // A client that asked for monitor and reads nothing, once meshd took it.
    UniqueFD silentMonitor()
    {
        UniqueFD fd = connectTo(socketPath);
        sendAll(fd.get(), "{\"cmd\":\"monitor\"}\n");
        return fd;
    }

    // Runs the loop, publishing `perTick` events every 10 ms (100 ticks a
    // second) for `ticks` ticks; `each` runs after every tick.
    template <typename F> void publishFor(int ticks, int perTick, F each)
    {
        std::string pad(200, 'p');
        long n = 0;
        int done = 0;
        std::function<void()> tick = [&] {
            for (int i = 0; i < perTick; ++i)
                server.publish("test_event", {{"n", n++}, {"pad", pad}});
            each();
            if (++done == ticks) {
                loop.stop();
                return;
            }
            loop.addTimer(std::chrono::milliseconds(10), tick);
        };
        // Let the server accept and serve the monitor requests first.
        loop.addTimer(std::chrono::milliseconds(50), tick);
        loop.run();
    }
};

} // namespace

TEST_CASE("a monitor that reads nothing is dropped at 4 MiB while one that reads gets every event",
          "[control][hostile]")
{
    Fixture f;
    UniqueFD slow = f.silentMonitor();
    Reader reader;
    reader.fd = connectTo(f.socketPath);
    sendAll(reader.fd.get(), "{\"cmd\":\"monitor\"}\n");
    REQUIRE(f.loop.addFd(reader.fd.get(), EPOLLIN, [&](std::uint32_t) { reader.drain(); }) == 0);

    // 10,000 events a second for 3 s, about 250 bytes each: 7.5 MB, more
    // than the slow client may have pending.
    std::size_t maxHeld = 0;
    std::size_t monitorsAfterFirstTick = 0;
    int ticks = 0;
    f.publishFor(300, 100, [&] {
        if (++ticks == 1)
            monitorsAfterFirstTick = f.server.monitorCount();
        maxHeld = std::max(maxHeld, f.server.heldBytes());
    });
    f.loop.removeFd(reader.fd.get());
    reader.drain();

    CHECK(monitorsAfterFirstTick == 2);
    CHECK(f.server.monitorCount() == 1); // the silent one is gone
    CHECK(reader.events == 30000);
    CHECK(reader.ordered);
    // One slow monitor at its limit and the reader's small backlog.
    CHECK(maxHeld <= ControlServer::monitorOutputLimit + 1024 * 1024);
}

TEST_CASE("all clients together hold at most maxHeldBytes: the largest are dropped as memory",
          "[control][hostile]")
{
    Fixture f;
    // 24 silent monitors may each hold 4 MiB: 96 MiB, three times the bound.
    std::vector<UniqueFD> slow;
    for (int i = 0; i < 24; ++i)
        slow.push_back(f.silentMonitor());
    // And 8 clients that each keep an unfinished line of almost 1 MiB.
    std::vector<UniqueFD> partial;
    for (int i = 0; i < 8; ++i) {
        partial.push_back(connectTo(f.socketPath));
        std::string line(1000 * 1024, 'x');
        std::size_t off = 0;
        // The socket buffer takes what it can now; the rest follows below.
        while (off < line.size()) {
            ssize_t n = send(partial.back().get(), line.data() + off, line.size() - off,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n <= 0)
                break;
            off += static_cast<std::size_t>(n);
        }
    }
    std::size_t maxHeld = 0;
    std::size_t maxMonitors = 0;
    f.publishFor(200, 100, [&] {
        maxHeld = std::max(maxHeld, f.server.heldBytes());
        maxMonitors = std::max(maxMonitors, f.server.monitorCount());
    });
    CHECK(maxMonitors == 24);
    // Events are shed for as they come; what clients send is shed for on
    // the next loop turn, so one turn's reads (64 KiB each) may pass it.
    CHECK(maxHeld <= ControlServer::maxHeldBytes + 32 * 64 * 1024);
    CHECK(f.server.heldBytes() <= ControlServer::maxHeldBytes);
    CHECK(f.server.monitorCount() < 24);

    // The server goes on serving: a new client gets its answer.
    UniqueFD fresh = connectTo(f.socketPath);
    sendAll(fresh.get(), "{\"id\":7,\"cmd\":\"ping\"}\n");
    f.loop.addTimer(std::chrono::milliseconds(200), [&] { f.loop.stop(); });
    f.loop.run();
    char buf[256] = {};
    ssize_t n = recv(fresh.get(), buf, sizeof(buf) - 1, MSG_DONTWAIT);
    REQUIRE(n > 0);
    CHECK(std::string(buf).find("\"pong\"") != std::string::npos);
}

namespace
{
// Reads what arrived on `fd` without blocking; true at end of stream.
bool readSome(int fd, std::string &into)
{
    char buf[65536];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
        into.append(buf, static_cast<std::size_t>(n));
    }
}
} // namespace

TEST_CASE("a reply in pieces goes out as it is made, as one line, in request order",
          "[control]")
{
    Fixture f;
    // "rows" answers over 20 turns of the loop: a piece of 1000 rows each
    // turn, then the closing bracket; "broken" fails after its first piece.
    std::function<void(int)> rowsTurn; // outlives the loop's timers, owns no cycle
    CommandRegistry::Reply rowsReply;
    f.commands.addAsync("rows", "a long table", [&](const nlohmann::json &,
                                                    CommandRegistry::Reply reply) {
        rowsReply = std::move(reply);
        rowsTurn = [&](int k) {
            std::string piece = k == 0 ? "[" : ",";
            for (int i = 0; i < 1000; ++i)
                piece += (i ? "," : "") + std::to_string(k * 1000 + i);
            rowsReply(CommandResult::piece(std::move(piece)));
            if (k == 19) {
                rowsReply(CommandResult::successRaw("]"));
                return;
            }
            f.loop.addTimer(std::chrono::milliseconds(5), [&rowsTurn, k] { rowsTurn(k + 1); });
        };
        rowsTurn(0);
    });
    f.commands.addAsync("broken", "fails half-way",
                        [&](const nlohmann::json &, CommandRegistry::Reply reply) {
                            reply(CommandResult::piece("[1,2"));
                            f.loop.addTimer(std::chrono::milliseconds(5), [reply] {
                                reply(CommandResult::failure("unavailable", "gone"));
                            });
                        });

    UniqueFD c = connectTo(f.socketPath);
    sendAll(c.get(), "{\"id\":1,\"cmd\":\"rows\"}\n{\"id\":2,\"cmd\":\"ping\"}\n");
    std::string got;
    std::size_t bytesAtTurn3 = 0;
    int ticks = 0;
    std::function<void()> tick = [&] {
        readSome(c.get(), got);
        if (++ticks == 4)
            bytesAtTurn3 = got.size();
        if (ticks == 40)
            return f.loop.stop();
        f.loop.addTimer(std::chrono::milliseconds(5), tick);
    };
    f.loop.addTimer(std::chrono::milliseconds(5), tick);
    f.loop.run();
    readSome(c.get(), got);

    // The first pieces arrived long before the last one was made.
    CHECK(bytesAtTurn3 > 4000);
    CHECK(got.find('\n') > bytesAtTurn3);
    std::size_t nl = got.find('\n');
    REQUIRE(nl != std::string::npos);
    auto first = nlohmann::json::parse(got.substr(0, nl));
    CHECK(first["id"] == 1);
    CHECK(first["ok"] == true);
    REQUIRE(first["result"].size() == 20000);
    CHECK(first["result"][19999] == 19999);
    // The pipelined request behind it was answered after it, not inside it.
    auto second = nlohmann::json::parse(got.substr(nl + 1, got.find('\n', nl + 1) - nl - 1));
    CHECK(second["id"] == 2);
    CHECK(second["result"] == "pong");

    // A failure after a piece closes the connection rather than send an
    // error inside the half-sent line.
    UniqueFD b = connectTo(f.socketPath);
    sendAll(b.get(), "{\"id\":3,\"cmd\":\"broken\"}\n");
    f.loop.addTimer(std::chrono::milliseconds(100), [&] { f.loop.stop(); });
    f.loop.run();
    std::string half;
    CHECK(readSome(b.get(), half)); // end of stream
    CHECK(half == "{\"id\":3,\"ok\":true,\"result\":[1,2");
    CHECK(f.server.clientCount() == 1);
}
