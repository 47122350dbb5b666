// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <functional>

struct nl_sock;
struct nl_msg;

namespace batman {

// Sends `msg` on `sock` and receives until the kernel's answer ends (ACK,
// end of dump, or an error message). `onMessage` sees each data message.
// `interrupted` (if given) is set when any message of a dump carried
// NLM_F_DUMP_INTR. Returns 0 or -errno from the kernel (-EIO otherwise).
int request(::nl_sock *sock, ::nl_msg *msg, const std::function<void(::nl_msg *)> &onMessage,
            bool *interrupted = nullptr);

} // namespace batman
