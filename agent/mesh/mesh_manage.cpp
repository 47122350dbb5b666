// SPDX-License-Identifier: GPL-2.0-or-later
// MeshService's manage mode: create the mesh interface, attach hardifs,
// apply settings and read them back; and the `set` command.
#include "mesh_service.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <net/if.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>

#include "control_protocol.h"
#include "log.h"
#include "mesh_json.h"
#include "rtnl.h"

namespace meshd {

using nlohmann::json;

std::string MeshService::reconcile(bool fatal)
{
    const std::string &mesh = config_.mesh.interface;
    auto problem = [&](const std::string &why) {
        if (why != meshProblem_)
            LOG(Warning, "mesh", "%s", why.c_str());
        meshProblem_ = why;
        return fatal ? why : std::string();
    };

    auto link = batman::linkInfo(mesh);
    if (!link) {
        int err = batman::createMeshInterface(mesh, config_.mesh.algorithm);
        if (err == -EOPNOTSUPP || err == -ENOENT)
            return problem("cannot create " + mesh +
                           ": the kernel has no batman-adv (modprobe batman-adv)");
        if (err < 0) {
            netlinkErrors_.Add({{"op", "create_mesh"}}).Increment();
            return problem("cannot create " + mesh + ": " + strerror(-err));
        }
        LOG(Info, "mesh", "created %s (%s)", mesh.c_str(), config_.mesh.algorithm.c_str());
        publishInOrder("mesh_created", {{"interface", mesh}, {"algorithm", config_.mesh.algorithm}});
        createdByUs_ = true;
        settingsPending_ = true;
        for (const auto &h : config_.mesh.hardifs)
            hardifSettingsPending_.insert(h.name);
        link = batman::linkInfo(mesh);
        if (!link)
            return problem(mesh + " vanished right after it was created");
    } else if (link->kind != "batadv") {
        return problem(mesh + " exists and is not a batman-adv interface (kind \"" + link->kind +
                       "\")");
    }
    if (!link->up) {
        if (int err = batman::setUp(mesh, true); err < 0)
            return problem("cannot bring " + mesh + " up: " + strerror(-err));
    }

    for (const auto &h : config_.mesh.hardifs) {
        std::string state;
        auto hl = batman::linkInfo(h.name);
        if (!hl) {
            state = "missing";
        } else if (hl->master != link->ifindex) {
            if (hl->master)
                LOG(Warning, "mesh", "taking %s from its current master for %s", h.name.c_str(),
                    mesh.c_str());
            int err = batman::setMaster(h.name, mesh);
            if (err < 0) {
                netlinkErrors_.Add({{"op", "attach_hardif"}}).Increment();
                state = std::string("attach failed: ") + strerror(-err);
            } else {
                batman::setUp(h.name, true);
                LOG(Info, "mesh", "attached %s to %s", h.name.c_str(), mesh.c_str());
                publishInOrder("hardif_attached", {{"hardif", h.name}, {"interface", mesh}});
                hardifSettingsPending_.insert(h.name);
                state = "attached";
            }
        } else {
            // Brought up when attached; an operator taking it down later is obeyed.
            state = hl->up ? "attached" : "down";
        }
        std::string &old = hardifState_[h.name];
        if (old != state && state == "missing")
            publishInOrder("hardif_missing", {{"hardif", h.name}, {"interface", mesh}});
        old = state;
    }

    int ifindex = static_cast<int>(link->ifindex);
    if (!netlink_.isOpen() && netlink_.open() < 0)
        return problem("cannot open the batadv generic netlink family");
    if (settingsPending_) {
        settingsPending_ = false;
        if (!config_.mesh.settings.empty())
            lastApply_["mesh"] = applyMeshSettings(ifindex, config_.mesh.settings);
    }
    for (const auto &h : config_.mesh.hardifs) {
        if (!hardifSettingsPending_.count(h.name) || hardifState_[h.name] != "attached")
            continue;
        hardifSettingsPending_.erase(h.name);
        if (!h.settings.empty())
            lastApply_["hardifs"][h.name] = applyHardifSettings(ifindex, h.name, h.settings);
    }
    meshProblem_.clear();
    return {};
}

namespace {

std::map<std::string, batman::SettingValue> toSettingValues(const json &settings)
{
    std::map<std::string, batman::SettingValue> out;
    for (auto it = settings.begin(); it != settings.end(); ++it) {
        if (it->is_boolean())
            out[it.key()] = it->get<bool>();
        else if (it->is_number_unsigned())
            out[it.key()] = it->get<std::uint64_t>();
        else if (it->is_string())
            out[it.key()] = it->get<std::string>();
    }
    return out;
}

// {"requested", "effective", "differences"} for settings read back after a set.
json compareSettings(const json &wanted, const json &effective)
{
    json differences = json::array();
    json eff = json::object();
    for (auto it = wanted.begin(); it != wanted.end(); ++it) {
        json got = effective.contains(it.key()) ? effective[it.key()] : json(nullptr);
        eff[it.key()] = got;
        if (got != *it)
            differences.push_back(
                {{"setting", it.key()}, {"requested", *it}, {"effective", got}});
    }
    return {{"requested", wanted}, {"effective", eff}, {"differences", differences}};
}

} // namespace

json MeshService::applyMeshSettings(int ifindex, const json &wanted)
{
    if (int err = netlink_.setMesh(ifindex, toSettingValues(wanted)); err < 0) {
        netlinkErrors_.Add({{"op", "set_mesh"}}).Increment();
        LOG(Warning, "mesh", "setting %s failed: %s", config_.mesh.interface.c_str(),
            strerror(-err));
        return {{"error", strerror(-err)}, {"requested", wanted}};
    }
    batman::MeshInfo info;
    json effective = json::object();
    if (netlink_.getMesh(ifindex, info) == 0)
        for (const auto &[k, v] : info.settings)
            effective[k] = settingJson(v);
    json result = compareSettings(wanted, effective);
    for (const auto &d : result["differences"])
        LOG(Warning, "mesh", "%s: the kernel keeps %s = %s (asked for %s)",
            config_.mesh.interface.c_str(), d["setting"].get<std::string>().c_str(),
            d["effective"].dump().c_str(), d["requested"].dump().c_str());
    return result;
}

json MeshService::applyHardifSettings(int ifindex, const std::string &hardif, const json &wanted)
{
    int hardifIndex = static_cast<int>(if_nametoindex(hardif.c_str()));
    if (!hardifIndex)
        return {{"error", hardif + " does not exist"}, {"requested", wanted}};
    if (int err = netlink_.setHardif(ifindex, hardifIndex, toSettingValues(wanted)); err < 0) {
        netlinkErrors_.Add({{"op", "set_hardif"}}).Increment();
        return {{"error", strerror(-err)}, {"requested", wanted}};
    }
    std::vector<batman::HardifEntry> hardifs;
    json effective = json::object();
    if (netlink_.hardifs(ifindex, hardifs) == 0)
        for (const auto &h : hardifs)
            if (static_cast<int>(h.ifindex) == hardifIndex)
                effective = {{"hop_penalty", optionalJson(h.hopPenalty)},
                             {"elp_interval_ms", optionalJson(h.elpIntervalMs)},
                             {"throughput_override_kbps", optionalJson(h.throughputOverrideKbps)}};
    return compareSettings(wanted, effective);
}

CommandResult MeshService::setVlan(const json &args)
{
    if (!args["vlan"].is_number_unsigned() || args["vlan"].get<std::uint64_t>() > 4095)
        return CommandResult::failure(errc::invalidArgument, "vlan must be a VLAN id 0..4095");
    auto vid = static_cast<std::uint16_t>(args["vlan"].get<std::uint64_t>());
    for (auto it = args.begin(); it != args.end(); ++it)
        if (it.key() != "vlan" && it.key() != "ap_isolation")
            return CommandResult::failure(errc::invalidArgument,
                                          it.key() + ": a VLAN only has ap_isolation");
    if (!args.contains("ap_isolation") || !args["ap_isolation"].is_boolean())
        return CommandResult::failure(errc::invalidArgument,
                                      "ap_isolation: expected a boolean (true or false)");
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty())
        return CommandResult::failure(errc::unavailable, why);
    // batman-adv knows tagged VLANs by the vid with bit 15 set.
    std::uint16_t tagged = static_cast<std::uint16_t>(vid | 0x8000);
    if (int err = netlink_.setVlan(ifindex, tagged, args["ap_isolation"].get<bool>()); err < 0) {
        if (err == -ENOENT)
            return CommandResult::failure(errc::invalidArgument,
                                          "VLAN " + std::to_string(vid) + " does not exist on " +
                                              config_.mesh.interface);
        return failure("set_vlan", err);
    }
    bool effective = false;
    if (int err = netlink_.getVlan(ifindex, tagged, effective); err < 0)
        return failure("get_vlan", err);
    json differences = json::array();
    if (effective != args["ap_isolation"].get<bool>())
        differences.push_back({{"setting", "ap_isolation"},
                               {"requested", args["ap_isolation"]},
                               {"effective", effective}});
    return CommandResult::success({{"vlan", vid},
                                   {"settings", {{"ap_isolation", effective}}},
                                   {"differences", differences},
                                   {"hardif", nullptr}});
}

CommandResult MeshService::set(const json &args)
{
    if (args.contains("vlan"))
        return setVlan(args);
    json settings = args;
    std::string hardif;
    if (settings.contains("hardif")) {
        if (!settings["hardif"].is_string() || !isValidInterfaceName(settings["hardif"].get<std::string>()))
            return CommandResult::failure(errc::invalidArgument, "hardif must be an interface name");
        hardif = settings["hardif"].get<std::string>();
        settings.erase("hardif");
    }
    if (settings.empty())
        return CommandResult::failure(errc::invalidArgument, "nothing to set");
    json valid = json::object();
    auto errors = validateSettings(settings, !hardif.empty(), valid);
    if (!errors.empty())
        return CommandResult::failure(errc::invalidArgument, errors[0].describe());
    int ifindex = 0;
    if (std::string why = prepare(ifindex); !why.empty())
        return CommandResult::failure(errc::unavailable, why);
    if (!hardif.empty() && !if_nametoindex(hardif.c_str()))
        return CommandResult::failure(errc::invalidArgument, "hardif " + hardif + " does not exist");
    json result = hardif.empty() ? applyMeshSettings(ifindex, valid)
                                 : applyHardifSettings(ifindex, hardif, valid);
    if (result.contains("error"))
        return CommandResult::failure(errc::unavailable,
                                      "set failed: " + result["error"].get<std::string>());
    // The read-back values are the answer: the kernel may clamp or ignore some.
    json out = result["effective"];
    return CommandResult::success({{"settings", out},
                                   {"differences", result["differences"]},
                                   {"hardif", hardif.empty() ? json(nullptr) : json(hardif)}});
}

} // namespace meshd
