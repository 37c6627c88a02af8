#!/usr/bin/env python3
"""Check that this instance can start here: .env, names, volumes, free ports. See --help."""

import sys

from supabase_ops.checks import main

sys.exit(main())
