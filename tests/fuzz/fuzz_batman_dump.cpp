// SPDX-License-Identifier: GPL-2.0-or-later
// batman-adv's netlink replies as the kernel would send them: datagrams
// (each prefixed here by a 2-byte length) through a real socket into the
// dump reader, which validates every reply's attributes against meshd's
// policy; each reply is then parsed as every table's row. The socket is
// non-blocking, so the reader stops when it is drained.
#include <cstddef>
#include <cstdint>
#include <sys/socket.h>
#include <unistd.h>

#include "dump.h"
#include "tables.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        return 0;
    std::size_t at = 0;
    int sent = 0;
    while (at + 2 <= size && sent < 32) {
        std::size_t len = static_cast<std::size_t>(data[at]) << 8 | data[at + 1];
        at += 2;
        len = std::min(len, size - at);
        if (send(sv[1], data + at, len, MSG_DONTWAIT) < 0)
            break;
        at += len;
        ++sent;
    }
    shutdown(sv[1], SHUT_WR);
    close(sv[1]);
    if (sent > 0) {
        batman::DumpReader reader;
        reader.begin(sv[0], 1);
        auto deadline = batman::DumpReader::Clock::now() + std::chrono::milliseconds(200);
        auto onEntry = [](nlattr **tb) {
            (void)batman::parseOriginator(tb);
            (void)batman::parseNeighbor(tb);
            (void)batman::parseHardif(tb);
            (void)batman::parseGateway(tb);
            (void)batman::parseLocalTranslation(tb);
            (void)batman::parseGlobalTranslation(tb);
            (void)batman::parseClaim(tb);
            (void)batman::parseBackbone(tb);
            (void)batman::parseDat(tb);
            (void)batman::parseMesh(tb);
            (void)batman::parseTpResult(tb);
            (void)batman::parseMcast(tb);
        };
        for (int turns = 0; turns < sent + 1; ++turns)
            if (reader.pump(deadline, onEntry) == batman::DumpReader::Progress::Done)
                break;
    }
    close(sv[0]);
    return 0;
}
