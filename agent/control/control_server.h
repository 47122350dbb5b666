// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <sys/socket.h>
#include <sys/types.h>

#include "commands.h"
#include "control_protocol.h"
#include "event_loop.h"
#include "unique_fd.h"

namespace meshd {

class Metrics;

// The Unix control socket: newline-delimited JSON requests, pipelining,
// and `monitor` event streams. Slow or misbehaving clients are cut off;
// nothing a client does can block the event loop.
class ControlServer {
public:
    struct Options {
        std::string path;
        mode_t mode = 0660;
        std::string group;
        bool groupRequired = false; // warn when the group does not exist
        // Members may run commands that change state; "" for none. Root and
        // meshd's own user always may.
        std::string adminGroup;
        std::size_t maxClients = 256;
        std::chrono::milliseconds writeTimeout{5000};
    };

    // Pending output above which a client's input is no longer read.
    static constexpr std::size_t outputHighWater = 256 * 1024;
    // Pending output at which a monitor client is dropped as too slow.
    static constexpr std::size_t monitorOutputLimit = 4 * 1024 * 1024;
    // Requests answered per client before the loop serves other fds.
    static constexpr int requestsPerTurn = 32;
    // What one read takes from a client; no more is read until it is served.
    static constexpr std::size_t readChunk = 64 * 1024;
    static constexpr std::chrono::microseconds timePerTurn{2000};
    // What all clients together may hold in read buffers, partial lines and
    // pending output (buffers by capacity). Above it, the clients holding the most are dropped
    // ("memory") until the total is below it again: without it, 256 clients
    // that each keep a partial line of almost maxLineBytes (no timeout
    // applies to them) or a monitor backlog would hold hundreds of MB.
    static constexpr std::size_t maxHeldBytes = 32 * 1024 * 1024;

    ControlServer(EventLoop &loop, const CommandRegistry &commands, Metrics &metrics);
    ~ControlServer();
    ControlServer(const ControlServer &) = delete;
    ControlServer &operator=(const ControlServer &) = delete;

    // Takes the socket's lock file, removes a stale socket file, binds and
    // listens. Returns an empty string or a message naming what failed.
    std::string start(const Options &options);
    // Closes every client, removes the socket file and releases the lock.
    void stop();

    // Applies mode, group and limits from a reloaded config.
    std::string reconfigure(const Options &options);

    // Sends an event to every monitor client.
    void publish(std::string_view name, nlohmann::json fields = nlohmann::json::object());

    std::size_t clientCount() const { return clients_.size(); }
    // Bytes all clients hold now (see maxHeldBytes).
    std::size_t heldBytes() const { return held_; }
    std::size_t monitorCount() const;
    const Options &options() const { return options_; }

private:
    struct Client {
        std::uint64_t id;
        UniqueFD fd;
        LineFramer framer;
        std::string out;
        std::size_t outOffset = 0;
        bool monitor = false;
        bool eof = false;
        bool busy = false;    // an asynchronous command has not answered yet
        bool serving = false; // inside serve(): replies are flushed at its end
        std::uint32_t interest = 0;
        EventLoop::TimerId writeTimer = 0;
        EventLoop::TimerId resumeTimer = 0;
        // Bytes read but not yet framed: at most one read's worth. Lines are
        // cut from it one at a time as they are served, so a client that
        // pipelines thousands of short requests and reads no replies costs
        // this buffer, not a queue of parsed lines.
        std::string in;
        std::size_t inOffset = 0;
        std::size_t held = 0; // what account() last counted for this client
        bool hasInput() const { return inOffset < in.size(); }
    };

    void onAccept();
    void onClientEvent(std::uint64_t id, std::uint32_t events);
    // Each returns false when the client was dropped.
    bool readInput(Client &c);
    std::optional<LineFramer::Item> nextItem(Client &c);
    void serve(std::uint64_t id);
    void handleLine(Client &c, const std::string &line);
    bool flush(Client &c);
    void queue(Client &c, std::string data);
    void resumeSoon(Client &c);
    void updateInterest(Client &c);
    void drop(std::uint64_t id, const char *reason);
    // Recounts what `c` holds; over maxHeldBytes in all, shed() runs soon.
    void account(Client &c);
    // Drops the clients holding the most until `room` more bytes fit.
    void shed(std::size_t room = 0);
    std::string applyPermissions();
    void resolveAdminGroup();
    // "" when the client may run `cmd`, a command that changes state, else
    // why not; `cred` gets the client's credentials.
    std::string deniedReason(const Client &c, const std::string &cmd, ucred &cred) const;
    void pauseAccepting();

    EventLoop &loop_;
    const CommandRegistry &commands_;
    Metrics &metrics_;
    Options options_;
    UniqueFD listen_;
    UniqueFD lock_;
    std::string lockPath_;
    bool acceptPaused_ = false;
    std::uint64_t nextId_ = 1;
    std::map<std::uint64_t, std::unique_ptr<Client>> clients_;
    std::vector<LineFramer::Item> items_; // scratch of nextItem
    std::optional<gid_t> adminGid_;       // of options_.adminGroup, when it exists
    std::size_t held_ = 0;                // sum of every client's `held`
    EventLoop::TimerId shedTimer_ = 0;
    ino_t socketIno_ = 0; // the socket file meshd bound, by identity
    dev_t socketDev_ = 0;
};

} // namespace meshd
