// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_set.h"

#include <algorithm>
#include <variant>

#include "address.h"
#include "clock.h"

namespace meshd {

PeerSet::PeerSet(EventLoop &loop, const Config::Spiffe &config, Dial dial)
    : loop_(loop), config_(config), dial_(std::move(dial))
{
    for (const auto &p : config_.peers) {
        Peer peer(p, spiffe::Backoff(std::chrono::milliseconds(config_.peerRetryMs),
                                     std::chrono::milliseconds(
                                         std::max<std::uint32_t>(60000, config_.peerRetryMs))));
        peer.since = unixNow();
        peer.host = canonicalHost(p.address);
        if (!p.id.empty()) {
            auto parsed = spiffe::parseId(p.id); // validated with the config
            if (auto *id = std::get_if<spiffe::SpiffeId>(&parsed))
                peer.expected = *id;
        }
        peers_.push_back(std::move(peer));
    }
}

PeerSet::~PeerSet() { cancelRetries(); }

void PeerSet::scheduleDial(std::size_t index, bool failed)
{
    Peer &p = peers_[index];
    if (p.retry)
        return;
    auto delay = failed ? p.backoff.next() : std::chrono::milliseconds(config_.peerRetryMs);
    p.retryAt = std::chrono::steady_clock::now() + delay;
    p.retry = loop_.addTimer(delay, [this, index] {
        peers_[index].retry = 0;
        dial_(index);
    });
}

void PeerSet::redialFrom(const std::string &host)
{
    for (std::size_t i = 0; i < peers_.size(); ++i) {
        Peer &p = peers_[i];
        if (p.conn != 0 || p.retry == 0 || p.host != host)
            continue;
        loop_.cancelTimer(p.retry);
        p.retry = 0;
        dial_(i);
    }
}

void PeerSet::cancelRetries()
{
    for (auto &p : peers_)
        if (p.retry) {
            loop_.cancelTimer(p.retry);
            p.retry = 0;
        }
}

const char *PeerLimits::exceeded(std::size_t connections, std::size_t pending,
                                 std::size_t pendingFromHost)
{
    return connections >= maxConnections ? "connections"
           : pending >= maxPending       ? "handshakes in progress"
           : pendingFromHost >= maxPendingPerHost ? "handshakes in progress from one address"
                                                  : nullptr;
}

} // namespace meshd
