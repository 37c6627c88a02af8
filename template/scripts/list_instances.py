#!/usr/bin/env python3
"""List every Supabase instance on this host (Docker labels + registry). See --help."""

import sys

from supabase_ops.instances import main_list

sys.exit(main_list())
