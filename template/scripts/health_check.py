#!/usr/bin/env python3
"""Probe every service of this instance; --production adds HTTPS and certificates. See --help."""

import sys

from supabase_ops.health import main

sys.exit(main())
