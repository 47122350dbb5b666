// SPDX-License-Identifier: GPL-2.0-or-later
#include "traffic.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace batman {

namespace {

int ethtool(int fd, const std::string &ifname, void *data)
{
    ifreq ifr = {};
    if (ifname.size() >= sizeof(ifr.ifr_name))
        return -EINVAL;
    memcpy(ifr.ifr_name, ifname.c_str(), ifname.size() + 1);
    ifr.ifr_data = static_cast<char *>(data);
    return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? -errno : 0;
}

} // namespace

int trafficCounters(const std::string &meshInterface,
                    std::vector<std::pair<std::string, std::uint64_t>> &out)
{
    out.clear();
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    // ethtool_sset_info is followed by one u32 per set asked for.
    alignas(ethtool_sset_info) std::uint8_t ssetBuf[sizeof(ethtool_sset_info) + sizeof(std::uint32_t)] = {};
    auto *sset = reinterpret_cast<ethtool_sset_info *>(ssetBuf);
    sset->cmd = ETHTOOL_GSSET_INFO;
    sset->sset_mask = 1ULL << ETH_SS_STATS;
    int err = ethtool(fd, meshInterface, sset);
    std::uint32_t n = 0;
    if (err == 0 && sset->sset_mask)
        memcpy(&n, ssetBuf + sizeof(ethtool_sset_info), sizeof(n));
    // Bounded: batman-adv has a few dozen counters.
    if (err == 0 && (n == 0 || n > 1024))
        err = -EPROTO;
    if (err < 0) {
        close(fd);
        return err;
    }

    std::vector<std::uint8_t> strings(sizeof(ethtool_gstrings) + n * ETH_GSTRING_LEN);
    auto *gs = reinterpret_cast<ethtool_gstrings *>(strings.data());
    gs->cmd = ETHTOOL_GSTRINGS;
    gs->string_set = ETH_SS_STATS;
    gs->len = n;
    std::vector<std::uint8_t> values(sizeof(ethtool_stats) + n * sizeof(std::uint64_t));
    auto *st = reinterpret_cast<ethtool_stats *>(values.data());
    st->cmd = ETHTOOL_GSTATS;
    st->n_stats = n;
    err = ethtool(fd, meshInterface, gs);
    if (err == 0)
        err = ethtool(fd, meshInterface, st);
    close(fd);
    if (err < 0)
        return err;
    n = std::min(n, std::min(gs->len, st->n_stats));
    for (std::uint32_t i = 0; i < n; i++) {
        const char *name = reinterpret_cast<const char *>(gs->data + i * ETH_GSTRING_LEN);
        std::uint64_t v;
        memcpy(&v, st->data + i, sizeof(v));
        out.emplace_back(std::string(name, strnlen(name, ETH_GSTRING_LEN)), v);
    }
    return 0;
}

} // namespace batman
