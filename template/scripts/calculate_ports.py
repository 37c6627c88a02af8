#!/usr/bin/env python3
"""Show this instance's host ports for its PORT_OFFSET, or change them (--write). See --help."""

import sys

from supabase_ops.portplan import main

sys.exit(main())
