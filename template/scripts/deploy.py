#!/usr/bin/env python3
"""Deploy after a change: validate, back up, pull, up, health check, roll back on failure. See --help."""

import sys

from supabase_ops.deploy import main

sys.exit(main())
