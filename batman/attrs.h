// SPDX-License-Identifier: GPL-2.0-or-later
#pragma once

#include <netlink/attr.h>

#include "mac.h"
#include "tables.h"

namespace batman {

// The validation policy for every batadv attribute meshd reads: libnl
// rejects a message whose attribute is shorter than its type or whose
// string is not terminated, before any parser looks at it. Attributes
// beyond the policy (newer kernels) are ignored.
const nla_policy *attributePolicy();
int attributeMax();

Mac attrMac(const nlattr *attr);
// VLAN ids arrive as u16 in dumps and as u32 in GET_VLAN replies.
Vid attrVid(const nlattr *attr);

} // namespace batman
