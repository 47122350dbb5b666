// SPDX-License-Identifier: GPL-2.0-or-later
#include "session_table.h"

#include <algorithm>
#include <bit>
#include <cerrno>

namespace meshd::forward {

int SessionTable::build(std::span<Session *const> sessions, std::unique_ptr<const SessionTable> &out)
{
    std::unique_ptr<SessionTable> table(new SessionTable());
    std::size_t capacity = std::bit_ceil(std::max<std::size_t>(sessions.size() * 2, 8));
    table->slots_.resize(capacity);
    table->mask_ = capacity - 1;
    table->shift_ = 32 - unsigned(std::countr_zero(capacity));
    for (Session *session : sessions) {
        if (!session)
            return -EINVAL;
        std::size_t i = table->slotFor(session->localIndex);
        while (table->slots_[i].session) {
            if (table->slots_[i].index == session->localIndex)
                return -EEXIST;
            i = (i + 1) & table->mask_;
        }
        table->slots_[i] = {session->localIndex, session};
    }
    table->size_ = sessions.size();
    out = std::move(table);
    return 0;
}

SessionDirectory::~SessionDirectory() { delete current_.load(); }

void SessionDirectory::publish(std::unique_ptr<const SessionTable> table)
{
    const SessionTable *previous = current_.exchange(table.release(), std::memory_order_seq_cst);
    reclaimer_.retire(std::unique_ptr<const SessionTable>(previous));
}

} // namespace meshd::forward
