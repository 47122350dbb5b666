// SPDX-License-Identifier: GPL-2.0-or-later
// tunnel-static: one Engine with static keys and one peer from the command
// line, for the host tests (tests/forward/host-tunnel.sh). Prints one JSON
// line when it is up ("ready"), one per engine event, and its counters as
// one JSON line on SIGUSR1 and at exit (SIGTERM/SIGINT).
#include "engine.h"
#include "key_slots.h"
#include "peer_table.h"
#include "session_table.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/signalfd.h>
#include <unistd.h>
#include <vector>

using namespace meshd::forward;

namespace {

[[noreturn]] void usage(const char *why)
{
    std::fprintf(stderr,
                 "tunnel-static: %s\n"
                 "usage: tunnel-static --listen ADDR:PORT --peer ADDR:PORT --peer-mac MAC\n"
                 "         --local-index N --peer-index N --tx-key HEX64 --rx-key HEX64\n"
                 "         [--interface NAME] [--io packet-ring|tap] [--workers N] [--mac MAC]\n"
                 "         [--cipher chacha20-poly1305|aes-256-gcm] [--library libsodium|openssl]\n"
                 "         [--mtu N] [--keepalive S] [--no-pin] [--no-gso]\n"
                 "ADDR:PORT is 198.18.1.1:4000 or [fd00:1::1]:4000\n",
                 why);
    std::exit(2);
}

bool parseEndpoint(const std::string &text, sockaddr_storage &out, socklen_t &len)
{
    std::string host, port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find("]:");
        if (close == std::string::npos)
            return false;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string::npos)
            return false;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    char *end = nullptr;
    unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end || p > 65535)
        return false;
    out = {};
    auto *v4 = reinterpret_cast<sockaddr_in *>(&out);
    auto *v6 = reinterpret_cast<sockaddr_in6 *>(&out);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(std::uint16_t(p));
        len = sizeof(sockaddr_in);
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(std::uint16_t(p));
        len = sizeof(sockaddr_in6);
        return true;
    }
    return false;
}

std::string endpointText(const sockaddr_storage &addr)
{
    char buf[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET) {
        const auto &a = reinterpret_cast<const sockaddr_in &>(addr);
        inet_ntop(AF_INET, &a.sin_addr, buf, sizeof(buf));
        return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
    }
    if (addr.ss_family == AF_INET6) {
        const auto &a = reinterpret_cast<const sockaddr_in6 &>(addr);
        inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof(buf));
        return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a.sin6_port));
    }
    return "";
}

bool parseMac(const std::string &text, MacAddress &out)
{
    unsigned b[6];
    if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return false;
    for (int i = 0; i < 6; ++i) {
        if (b[i] > 255)
            return false;
        out[std::size_t(i)] = std::uint8_t(b[i]);
    }
    return true;
}

std::string macText(const MacAddress &mac)
{
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                  mac[4], mac[5]);
    return buf;
}

bool parseKey(const std::string &hex, std::uint8_t *out)
{
    if (hex.size() != 2 * aeadKeySize)
        return false;
    for (std::size_t i = 0; i < aeadKeySize; ++i) {
        unsigned v;
        if (std::sscanf(hex.c_str() + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = std::uint8_t(v);
    }
    return true;
}

std::uint32_t parseU32(const char *text, const char *what)
{
    char *end = nullptr;
    unsigned long v = std::strtoul(text, &end, 0);
    if (!*text || *end || v > UINT32_MAX)
        usage(what);
    return std::uint32_t(v);
}

void printCounters(Engine &engine, std::size_t events)
{
    CounterTotals t = engine.totals();
    PeerTotals p = engine.peerTotals(0);
    std::string out = "{\"counters\":{";
    out += "\"rx_packets\":" + std::to_string(t.rxPackets) + ",\"rx_bytes\":" +
           std::to_string(t.rxBytes) + ",\"tx_packets\":" + std::to_string(t.txPackets) +
           ",\"tx_bytes\":" + std::to_string(t.txBytes) + ",\"rx_keepalives\":" +
           std::to_string(t.rxKeepalives) + ",\"tx_keepalives\":" + std::to_string(t.txKeepalives);
    out += "},\"drops\":{";
    for (std::size_t i = 0; i < dropReasonCount; ++i) {
        if (i)
            out += ",";
        out += "\"" + std::string(dropReasonName(DropReason(i))) + "\":" + std::to_string(t.drops[i]);
    }
    out += "},\"peer\":{\"rx_packets\":" + std::to_string(p.rxPackets) + ",\"rx_bytes\":" +
           std::to_string(p.rxBytes) + ",\"tx_packets\":" + std::to_string(p.txPackets) +
           ",\"tx_bytes\":" + std::to_string(p.txBytes) + "}";
    out += ",\"events\":" + std::to_string(events) +
           ",\"events_dropped\":" + std::to_string(engine.eventsDropped()) +
           ",\"mesh_kernel_drops\":" + std::to_string(engine.meshKernelDrops()) + ",\"rings\":{";
    std::vector<double> occ = engine.ringOccupancy();
    std::vector<std::string> names = engine.ringNames();
    for (std::size_t i = 0; i < occ.size(); ++i) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.3f", occ[i]);
        out += (i ? ",\"" : "\"") + names[i] + "\":" + buf;
    }
    out += "}}\n";
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char **argv)
{
    EngineConfig config;
    sockaddr_storage peerAddr{};
    socklen_t peerLen = 0;
    MacAddress peerMac{};
    bool havePeerMac = false, haveListen = false, haveTx = false, haveRx = false;
    std::uint32_t localIndex = 0, peerIndex = 0;
    std::uint8_t txKey[aeadKeySize], rxKey[aeadKeySize];
    Cipher cipher = Cipher::ChaCha20Poly1305;
    Library library = Library::Sodium;

    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char * {
            if (i + 1 >= argc)
                usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--interface")
            config.interface = value();
        else if (a == "--io") {
            if (!parseMeshIo(value(), config.io))
                usage("bad --io");
        } else if (a == "--workers")
            config.workers = parseU32(value(), "bad --workers");
        else if (a == "--listen") {
            if (!parseEndpoint(value(), config.listen, config.listenLen))
                usage("bad --listen");
            haveListen = true;
        } else if (a == "--peer") {
            if (!parseEndpoint(value(), peerAddr, peerLen))
                usage("bad --peer");
        } else if (a == "--peer-mac") {
            if (!parseMac(value(), peerMac))
                usage("bad --peer-mac");
            havePeerMac = true;
        } else if (a == "--mac") {
            if (!parseMac(value(), config.mac))
                usage("bad --mac");
        } else if (a == "--local-index")
            localIndex = parseU32(value(), "bad --local-index");
        else if (a == "--peer-index")
            peerIndex = parseU32(value(), "bad --peer-index");
        else if (a == "--tx-key")
            haveTx = parseKey(value(), txKey) || (usage("bad --tx-key"), false);
        else if (a == "--rx-key")
            haveRx = parseKey(value(), rxKey) || (usage("bad --rx-key"), false);
        else if (a == "--cipher") {
            std::string c = value();
            if (c == cipherName(Cipher::ChaCha20Poly1305))
                cipher = Cipher::ChaCha20Poly1305;
            else if (c == cipherName(Cipher::Aes256Gcm))
                cipher = Cipher::Aes256Gcm;
            else
                usage("bad --cipher");
        } else if (a == "--library") {
            std::string l = value();
            if (l == libraryName(Library::Sodium))
                library = Library::Sodium;
            else if (l == libraryName(Library::OpenSsl))
                library = Library::OpenSsl;
            else
                usage("bad --library");
        } else if (a == "--mtu")
            config.mtu = parseU32(value(), "bad --mtu");
        else if (a == "--keepalive")
            config.keepaliveSeconds = parseU32(value(), "bad --keepalive");
        else if (a == "--no-pin")
            config.pin = false;
        else if (a == "--no-gso")
            config.udpGso = false;
        else
            usage(("unknown argument " + a).c_str());
    }
    if (!haveListen || !peerLen || !havePeerMac || !haveTx || !haveRx)
        usage("--listen, --peer, --peer-mac, --tx-key and --rx-key are required");

    // Signals first, so that no worker thread inherits them unblocked.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGUSR1);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    int sigFd = signalfd(-1, &signals, SFD_CLOEXEC);

    Engine engine(config);
    auto session = std::make_unique<Session>(localIndex, peerIndex);
    int err = 0;
    auto rx = RxKey::create(cipher, library, rxKey, config.workers, &err);
    auto tx = TxKey::create(cipher, library, txKey, config.workers, &err);
    if (!rx || !tx) {
        std::fprintf(stderr, "tunnel-static: keys: %s\n", std::strerror(-err));
        return 1;
    }
    KeySlots::Retired retired;
    if (session->keys.rekey(0, std::move(rx), std::move(tx), 0, retired) < 0) {
        std::fprintf(stderr, "tunnel-static: rekey failed\n");
        return 1;
    }
    Peer peer;
    peer.session = session.get();
    peer.mac = peerMac;
    peer.endpoint = peerAddr;
    peer.endpointLen = peerLen;
    peer.slot = 0;
    std::unique_ptr<const PeerTable> table;
    if (int rc = PeerTable::build(std::span<const Peer>(&peer, 1), config.maxPeers, table); rc < 0) {
        std::fprintf(stderr, "tunnel-static: peer table: %s\n", std::strerror(-rc));
        return 1;
    }
    engine.publish(std::move(table));
    if (int rc = engine.start(); rc < 0) {
        std::fprintf(stderr, "tunnel-static: %s\n", engine.error().c_str());
        return 1;
    }
    std::printf("{\"ready\":true,\"interface\":\"%s\",\"ifindex\":%d,\"mac\":\"%s\",\"port\":%u,"
                "\"io\":\"%s\",\"workers\":%u}\n",
                config.interface.c_str(), engine.ifindex(), macText(engine.mac()).c_str(),
                engine.boundPort(), meshIoName(config.io), engine.workerCount());
    std::fflush(stdout);

    std::size_t events = 0;
    std::vector<EngineEvent> drained;
    for (bool running = true; running;) {
        pollfd fds[2] = {{sigFd, POLLIN, 0}, {engine.eventFd(), POLLIN, 0}};
        int n = poll(fds, 2, 1000);
        engine.reclaim();
        if (n <= 0)
            continue;
        if (fds[1].revents & POLLIN) {
            drained.clear();
            engine.drainEvents(drained);
            for (const EngineEvent &e : drained) {
                ++events;
                std::printf("{\"event\":\"%s\",\"local_index\":%u,\"from\":\"%s\"}\n",
                            e.kind == EngineEvent::Kind::EndpointChanged ? "endpoint_changed"
                                                                          : "key_exhausted",
                            e.localIndex, endpointText(e.from).c_str());
            }
            std::fflush(stdout);
        }
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo info{};
            if (read(sigFd, &info, sizeof(info)) != sizeof(info))
                continue;
            if (info.ssi_signo == SIGUSR1)
                printCounters(engine, events);
            else
                running = false;
        }
    }
    engine.stop();
    printCounters(engine, events);
    return 0;
}
