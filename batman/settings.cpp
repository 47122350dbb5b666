// SPDX-License-Identifier: GPL-2.0-or-later
#include "settings.h"

namespace batman {

namespace {

constexpr std::uint64_t u32max = 0xffffffffu;

const std::vector<SettingSpec> specs = {
    {"aggregated_ogms", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "aggregate originator messages"},
    {"ap_isolation", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "isolate wireless clients from each other"},
    {"bonding", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "use several hard interfaces towards the same neighbour"},
    {"bridge_loop_avoidance", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "bridge loop avoidance"},
    {"distributed_arp_table", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "distributed ARP table"},
    {"fragmentation", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "fragment unicast packets larger than the hardif MTU"},
    {"gw_mode", SettingScope::Mesh, SettingKind::Choice, 0, 0, {"off", "client", "server"},
     "gateway mode"},
    {"gw_bandwidth_down_kbps", SettingScope::Mesh, SettingKind::Uint, 100, u32max * 100, {},
     "announced gateway download bandwidth (kbit/s, kernel keeps 100 kbit/s steps)"},
    {"gw_bandwidth_up_kbps", SettingScope::Mesh, SettingKind::Uint, 100, u32max * 100, {},
     "announced gateway upload bandwidth (kbit/s, kernel keeps 100 kbit/s steps)"},
    {"gw_sel_class", SettingScope::Mesh, SettingKind::Uint, 1, u32max, {},
     "gateway selection class"},
    {"hop_penalty", SettingScope::Mesh, SettingKind::Uint, 0, 255, {},
     "TQ penalty applied per hop"},
    {"isolation_mark", SettingScope::Mesh, SettingKind::Uint, 0, u32max, {},
     "fwmark value identifying isolated clients"},
    {"isolation_mask", SettingScope::Mesh, SettingKind::Uint, 0, u32max, {},
     "fwmark mask used with isolation_mark"},
    {"log_level", SettingScope::Mesh, SettingKind::Uint, 0, u32max, {},
     "batman-adv debug log bitmask"},
    {"multicast_forceflood", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "flood multicast instead of optimising it"},
    {"multicast_fanout", SettingScope::Mesh, SettingKind::Uint, 1, u32max, {},
     "maximum unicast copies of a multicast packet"},
    {"network_coding", SettingScope::Mesh, SettingKind::Bool, 0, 1, {},
     "network coding (needs kernel support)"},
    {"orig_interval_ms", SettingScope::Mesh, SettingKind::Uint, 40, 3600000, {},
     "originator message interval (ms, the kernel's minimum is 40)"},
    {"hop_penalty", SettingScope::Hardif, SettingKind::Uint, 0, 255, {},
     "extra TQ penalty for paths over this hard interface"},
    {"elp_interval_ms", SettingScope::Hardif, SettingKind::Uint, 1, u32max, {},
     "BATMAN_V echo location probe interval (ms)"},
    {"throughput_override_kbps", SettingScope::Hardif, SettingKind::Uint, 0, u32max * 100, {},
     "BATMAN_V link throughput override (kbit/s, 0 = measure)"},
};

} // namespace

std::span<const SettingSpec> settingSpecs() { return specs; }

const SettingSpec *findSetting(std::string_view name, SettingScope scope)
{
    for (const auto &spec : specs)
        if (spec.name == name && spec.scope == scope)
            return &spec;
    return nullptr;
}

} // namespace batman
