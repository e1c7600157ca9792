// SPDX-License-Identifier: MIT
/* guard.c: storage for the reentrancy guard (see guard.h). */
#include "guard.h"

__thread unsigned guard_depth;
