// SPDX-License-Identifier: GPL-2.0-or-later
#include "module.h"

#include <cerrno>
#include <fstream>
#include <memory>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

namespace batman {

std::optional<std::string> moduleVersion(const std::string &sysfsRoot)
{
    std::ifstream in(sysfsRoot + "/module/batman_adv/version");
    std::string version;
    if (!in || !std::getline(in, version) || version.empty())
        return std::nullopt;
    return version;
}

int resolveFamily()
{
    std::unique_ptr<nl_sock, decltype(&nl_socket_free)> sock(nl_socket_alloc(), nl_socket_free);
    if (!sock)
        return -ENOMEM;
    int err = genl_connect(sock.get());
    if (err < 0)
        return -EIO;
    int id = genl_ctrl_resolve(sock.get(), "batadv");
    if (id < 0)
        return id == -NLE_OBJ_NOTFOUND ? -ENOENT : -EIO;
    return id;
}

} // namespace batman
