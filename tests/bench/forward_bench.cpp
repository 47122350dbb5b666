// SPDX-License-Identifier: GPL-2.0-or-later
// The tunnel data plane on one core, without sockets: frames per second and
// Gbit/s of payload through pool acquire -> header encode -> seal in place ->
// ring hand-over -> header decode -> replay check -> open in place -> replay
// update -> release, next to the bare AEAD of the same library (seal + open of
// one buffer in a loop: the ceiling). Run by tests/bench/forward.
//   forward_bench [--seconds S] [--rounds R] [--payload N]...
// Each row alternates the two measurements R times (S seconds each) and keeps
// the best of each, so that load from other processes hurts both alike.
// One line of JSON per row on stdout.
#include "aead.h"
#include "frame_pool.h"
#include "replay_window.h"
#include "spsc_ring.h"
#include "wire.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace meshd::forward;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t batch = 32;

struct Rate {
    double framesPerSecond = 0;
    double gbps = 0;
};

Rate rate(std::uint64_t frames, std::size_t payload, Clock::duration elapsed)
{
    double s = std::chrono::duration<double>(elapsed).count();
    return {frames / s, frames * payload * 8.0 / s / 1e9};
}

// Seal + open of one buffer, as fast as the library goes.
Rate ceiling(Aead &aead, std::size_t payload, double seconds)
{
    std::vector<std::uint8_t> buf(wire::headerSize + payload + aeadTagSize, 0x42);
    std::uint8_t *body = buf.data() + wire::headerSize;
    std::uint64_t counter = 0;
    auto start = Clock::now();
    auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    Clock::time_point now;
    do {
        for (int i = 0; i < 1024; ++i, ++counter) {
            if (!aead.seal(counter, buf.data(), wire::headerSize, body, payload) ||
                !aead.open(counter, buf.data(), wire::headerSize, body, payload)) {
                std::fprintf(stderr, "forward_bench: ceiling: AEAD failed\n");
                std::exit(1);
            }
        }
    } while ((now = Clock::now()) < end);
    return rate(counter, payload, now - start);
}

// The data plane, both ends on this core, handing frames over a ring.
Rate dataPlane(Aead &sender, Aead &receiver, std::size_t payload, double seconds)
{
    FramePool pool(1024, std::uint32_t(std::max<std::size_t>(payload, 64)));
    if (pool.init() < 0) {
        std::fprintf(stderr, "forward_bench: no frame pool\n");
        std::exit(1);
    }
    SpscRing<std::uint32_t> ring(512);
    ReplayWindow replay;
    std::uint64_t txCounter = 0, delivered = 0, failures = 0;
    std::uint32_t idx[batch];
    auto start = Clock::now();
    auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    Clock::time_point now;
    do {
        for (int round = 0; round < 32; ++round) {
            // Send side: a frame as the mesh side would leave it, sealed in place.
            std::size_t n = 0;
            for (; n < batch; ++n) {
                idx[n] = pool.acquire();
                if (idx[n] == noFrame)
                    break;
                FrameView v = pool.view(idx[n]);
                v.append(std::uint32_t(payload));
                std::memcpy(v.data(), &txCounter, sizeof txCounter);
                v.prepend(wire::headerSize);
                wire::encode({wire::PacketType::Data, 0, 1, txCounter}, v.data());
                if (!sender.seal(txCounter, v.data(), wire::headerSize, v.data() + wire::headerSize,
                                 payload))
                    ++failures;
                v.append(aeadTagSize);
                pool.save(idx[n], v);
                ++txCounter;
            }
            std::size_t pushed = ring.pushBurst(idx, n);
            for (std::size_t i = pushed; i < n; ++i)
                pool.release(idx[i]);

            // Receive side.
            std::size_t got = ring.popBurst(idx, batch);
            for (std::size_t i = 0; i < got; ++i) {
                FrameView v = pool.view(idx[i]);
                wire::Header h;
                if (wire::decode(v.data(), v.length, h) != wire::ParseError::None ||
                    replay.check(h.counter) != ReplayVerdict::Ok ||
                    !receiver.open(h.counter, v.data(), wire::headerSize,
                                   v.data() + wire::headerSize,
                                   v.length - wire::headerSize - aeadTagSize) ||
                    replay.update(h.counter) != ReplayVerdict::Ok) {
                    ++failures;
                } else {
                    v.trimFront(wire::headerSize);
                    v.trimBack(aeadTagSize);
                    ++delivered;
                }
                pool.release(idx[i]);
            }
        }
    } while ((now = Clock::now()) < end);
    if (failures || pool.inUse() != 0) {
        std::fprintf(stderr, "forward_bench: %llu frames failed, %u frames lost\n",
                     (unsigned long long)failures, pool.inUse());
        std::exit(1);
    }
    return rate(delivered, payload, now - start);
}

} // namespace

int main(int argc, char **argv)
{
    double seconds = 1.0;
    int rounds = 3;
    std::vector<std::size_t> payloads;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--seconds" && i + 1 < argc) {
            seconds = std::atof(argv[++i]);
        } else if (arg == "--rounds" && i + 1 < argc) {
            rounds = std::max(1, std::atoi(argv[++i]));
        } else if (arg == "--payload" && i + 1 < argc) {
            payloads.push_back(std::size_t(std::atol(argv[++i])));
        } else {
            std::fprintf(stderr, "usage: forward_bench [--seconds S] [--rounds R] [--payload N]...\n");
            return 2;
        }
    }
    if (payloads.empty())
        payloads = {64, 1400};
    for (std::size_t p : payloads)
        if (p == 0 || p > maxDataRoom) {
            std::fprintf(stderr, "forward_bench: payload must be 1..%u\n", maxDataRoom);
            return 2;
        }

    std::uint8_t key[aeadKeySize];
    for (std::size_t i = 0; i < sizeof key; ++i)
        key[i] = std::uint8_t(i * 29 + 3);
    const std::pair<Cipher, Library> pairs[] = {
        {Cipher::ChaCha20Poly1305, Library::Sodium},
        {Cipher::ChaCha20Poly1305, Library::OpenSsl},
        {Cipher::Aes256Gcm, Library::Sodium},
        {Cipher::Aes256Gcm, Library::OpenSsl},
    };
    for (auto [cipher, library] : pairs) {
        if (!aeadAvailable(cipher, library)) {
            std::printf("{\"bench\":\"forward\",\"cipher\":\"%s\",\"library\":\"%s\",\"skipped\":"
                        "\"not available on this CPU\"}\n",
                        cipherName(cipher), libraryName(library));
            continue;
        }
        auto sender = makeAead(cipher, library, key).aead;
        auto receiver = makeAead(cipher, library, key).aead;
        auto bare = makeAead(cipher, library, key).aead;
        for (std::size_t payload : payloads) {
            Rate top, dp;
            for (int r = 0; r < rounds; ++r) {
                Rate t = ceiling(*bare, payload, seconds);
                Rate d = dataPlane(*sender, *receiver, payload, seconds);
                if (t.framesPerSecond > top.framesPerSecond)
                    top = t;
                if (d.framesPerSecond > dp.framesPerSecond)
                    dp = d;
            }
            std::printf("{\"bench\":\"forward\",\"cipher\":\"%s\",\"library\":\"%s\",\"payload\":%zu,"
                        "\"dataplane_fps\":%.0f,\"dataplane_gbps\":%.3f,\"ceiling_fps\":%.0f,"
                        "\"ceiling_gbps\":%.3f,\"ratio\":%.3f,\"rounds\":%d,\"seconds\":%.2f}\n",
                        cipherName(cipher), libraryName(library), payload, dp.framesPerSecond,
                        dp.gbps, top.framesPerSecond, top.gbps,
                        dp.framesPerSecond / top.framesPerSecond, rounds, seconds);
            std::fflush(stdout);
        }
    }
    return 0;
}
