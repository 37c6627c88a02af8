#!/usr/bin/env python3
"""Show the instance registry, find an instance's directory or settings. See --help."""

import sys

from supabase_ops.instances import main_switch

sys.exit(main_switch())
