#!/usr/bin/env python3
"""List backup sets, restore one (--yes), or rehearse a restore (--drill). See --help."""

import sys

from supabase_ops.restore import main

sys.exit(main())
