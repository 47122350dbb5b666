// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

struct nlattr;
struct nl_sock;

namespace batman {

struct DumpStats {
    unsigned messages = 0;
    unsigned badEntries = 0;  // failed validation or missing mandatory attributes
    unsigned duplicates = 0;  // dropped from dumps the kernel does not protect
    unsigned retries = 0;     // dumps restarted after NLM_F_DUMP_INTR
    unsigned datagrams = 0;   // recv() calls that returned replies
};

// Reads the replies of one batadv dump straight from the socket into a
// reusable buffer and parses them in place: no allocation per entry, and
// the caller decides how long one call may run. Works on blocking sockets
// (pump returns when the dump ends) and on non-blocking ones (pump also
// returns when the socket is drained, to be called again when readable).
class DumpReader {
public:
    using Clock = std::chrono::steady_clock;
    using OnEntry = std::function<void(nlattr **tb)>; // validated attributes of one reply

    DumpReader();
    ~DumpReader();
    DumpReader(const DumpReader &) = delete;
    DumpReader &operator=(const DumpReader &) = delete;

    // Expects the replies to the request with sequence number `seq`.
    void begin(int fd, std::uint32_t seq);

    enum class Progress { More, Done };
    // Parses replies until the dump ends or `deadline` has passed (checked
    // between datagrams of at most 16 KiB; at least one is read per call).
    Progress pump(Clock::time_point deadline, const OnEntry &onEntry);

    int error() const { return error_; }         // 0 or -errno once Done
    bool interrupted() const { return interrupted_; } // NLM_F_DUMP_INTR seen
    DumpStats &stats() { return stats_; }

private:
    // Returns true when the dump ended with this datagram.
    bool parse(const char *data, std::size_t len, const OnEntry &onEntry);

    int fd_ = -1;
    std::uint32_t seq_ = 0;
    int error_ = 0;
    bool interrupted_ = false;
    DumpStats stats_;
    std::unique_ptr<char[]> buf_;
};

// Sends a batadv dump request for `cmd` on a mesh interface over `sock`
// (generic netlink family `family`) and readies `reader` for its replies.
// 0 or -errno.
int startDump(nl_sock *sock, int family, int cmd, int meshIfindex, DumpReader &reader);

// A generic netlink socket of its own for streamed batadv dumps: the
// event loop watches fd() and calls pump() when it is readable.
class DumpStream {
public:
    DumpStream() = default;
    ~DumpStream();
    DumpStream(const DumpStream &) = delete;
    DumpStream &operator=(const DumpStream &) = delete;

    // 0 or -errno (-ENOENT: no batadv family).
    int open();
    bool isOpen() const { return sock_ != nullptr; }
    int fd() const;
    // Sends the dump request for `cmd` on a mesh interface. 0 or -errno.
    int start(int cmd, int meshIfindex);
    DumpReader::Progress pump(DumpReader::Clock::time_point deadline,
                              const DumpReader::OnEntry &onEntry)
    {
        return reader_.pump(deadline, onEntry);
    }
    DumpReader &reader() { return reader_; }
    // Abandons a dump in progress (the socket is replaced).
    void close();

private:
    nl_sock *sock_ = nullptr;
    int family_ = 0;
    DumpReader reader_;
};

} // namespace batman
