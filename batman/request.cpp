// SPDX-License-Identifier: GPL-2.0-or-later
#include "request.h"

#include <cerrno>
#include <cstdint>
#include <memory>
#include <netlink/msg.h>
#include <netlink/netlink.h>

namespace batman {

namespace {

struct State {
    const std::function<void(nl_msg *)> *onMessage;
    bool *interrupted;
    std::uint32_t seq = 0;
    int error = 0;
    bool done = false;

    void noteFlags(nl_msg *msg)
    {
        if (interrupted && (nlmsg_hdr(msg)->nlmsg_flags & NLM_F_DUMP_INTR))
            *interrupted = true;
    }
};

int onValid(nl_msg *msg, void *arg)
{
    auto *s = static_cast<State *>(arg);
    s->noteFlags(msg);
    (*s->onMessage)(msg);
    return NL_OK;
}

// Replies must carry the sequence number of this request; anything else
// is left over from an earlier one and skipped. (libnl's own check counts
// requests it saw complete, and dumps read by DumpReader bypass it.)
int onSeqCheck(nl_msg *msg, void *arg)
{
    auto *s = static_cast<State *>(arg);
    return nlmsg_hdr(msg)->nlmsg_seq == s->seq ? NL_OK : NL_SKIP;
}

int onEnd(nl_msg *msg, void *arg) // end of dump, or the ACK of a request
{
    auto *s = static_cast<State *>(arg);
    s->noteFlags(msg);
    s->done = true;
    return NL_STOP;
}

int onError(sockaddr_nl *, nlmsgerr *err, void *arg)
{
    auto *s = static_cast<State *>(arg);
    s->error = err->error;
    s->done = true;
    return NL_STOP;
}

} // namespace

int request(nl_sock *sock, nl_msg *msg, const std::function<void(nl_msg *)> &onMessage,
            bool *interrupted)
{
    State s{&onMessage, interrupted};
    std::unique_ptr<nl_cb, decltype(&nl_cb_put)> cb(nl_cb_alloc(NL_CB_DEFAULT), nl_cb_put);
    if (!cb)
        return -ENOMEM;
    nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, onValid, &s);
    nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, onEnd, &s);
    nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, onEnd, &s);
    nl_cb_err(cb.get(), NL_CB_CUSTOM, onError, &s);
    nl_cb_set(cb.get(), NL_CB_SEQ_CHECK, NL_CB_CUSTOM, onSeqCheck, &s);
    if (nl_send_auto(sock, msg) < 0)
        return -EIO;
    s.seq = nlmsg_hdr(msg)->nlmsg_seq;
    while (!s.done) {
        int err = nl_recvmsgs(sock, cb.get());
        if (err < 0 && !s.done)
            return s.error ? s.error : -EIO;
    }
    return s.error;
}

} // namespace batman
