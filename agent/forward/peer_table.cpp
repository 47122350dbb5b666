// SPDX-License-Identifier: GPL-2.0-or-later
#include "peer_table.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <netinet/in.h>

namespace meshd::forward {

namespace {
bool validEndpoint(const Peer &peer)
{
    if (peer.endpoint.ss_family == AF_INET)
        return peer.endpointLen == sizeof(sockaddr_in);
    if (peer.endpoint.ss_family == AF_INET6)
        return peer.endpointLen == sizeof(sockaddr_in6);
    return false;
}
} // namespace

int PeerTable::build(std::span<const Peer> peers, std::uint32_t maxPeers,
                     std::unique_ptr<const PeerTable> &out)
{
    if (peers.size() > maxPeers)
        return -EINVAL;
    std::unique_ptr<PeerTable> table(new PeerTable());
    std::size_t capacity = std::bit_ceil(std::max<std::size_t>(peers.size() * 2, 8));
    table->mask_ = capacity - 1;
    table->shift_ = 32 - unsigned(std::countr_zero(capacity));
    table->byIndex_.assign(capacity, empty);
    table->byMac_.assign(capacity, empty);
    table->peers_.assign(peers.begin(), peers.end());
    std::vector<bool> slots(maxPeers, false);

    for (std::uint32_t at = 0; at < table->peers_.size(); ++at) {
        const Peer &peer = table->peers_[at];
        if (!peer.session || !validEndpoint(peer) || peer.slot >= maxPeers)
            return -EINVAL;
        std::uint64_t key = macKey(peer.mac.data());
        if (key == 0 || (peer.mac[0] & 1))
            return -EINVAL;
        if (slots[peer.slot])
            return -EEXIST;
        slots[peer.slot] = true;

        std::size_t i = table->indexSlot(peer.session->localIndex);
        for (; table->byIndex_[i] != empty; i = (i + 1) & table->mask_)
            if (table->peers_[table->byIndex_[i]].session->localIndex == peer.session->localIndex)
                return -EEXIST;
        table->byIndex_[i] = at;

        i = table->macSlot(key);
        for (; table->byMac_[i] != empty; i = (i + 1) & table->mask_)
            if (macKey(table->peers_[table->byMac_[i]].mac.data()) == key)
                return -EEXIST;
        table->byMac_[i] = at;
    }
    out = std::move(table);
    return 0;
}

PeerDirectory::~PeerDirectory() { delete current_.load(); }

void PeerDirectory::publish(std::unique_ptr<const PeerTable> table)
{
    const PeerTable *previous = current_.exchange(table.release(), std::memory_order_seq_cst);
    reclaimer_.retire(std::unique_ptr<const PeerTable>(previous));
}

} // namespace meshd::forward
